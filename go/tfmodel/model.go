// Package tfmodel runs ganhost's SavedModels through the TensorFlow C API (graft). It is the only
// package that imports graft or uses cgo; its exported API speaks plain Go slices.
package tfmodel

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	tf "github.com/wamuir/graft/tensorflow"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/ganhost/ganhost/go/gan"
)

// Model is one loaded SavedModel. Generate and Discriminate may run concurrently with each
// other; TrainStep and Save take the model exclusively, so no caller ever reads half-updated
// weights and no save captures a step midway.
type Model struct {
	dir        string
	savedModel []byte // saved_model.pb as loaded; every saved version reuses the same graph

	mu      sync.RWMutex
	session *tf.Session
	sigs    map[string]boundSignature
	specs   map[string]gan.SignatureSpec

	conditional bool // generate and train_step take class labels

	saverFilename tf.Output // feed: checkpoint prefix
	saverSave     tf.Output // fetch: runs the save

	globalStep *tf.Output // fetch: the global_step variable's value; nil when the graph has none
}

// globalStepRead is the read of the GAN's global_step variable that Keras puts in every graph
// our Python export writes; the contract does not require it (other exporters may lack it).
const globalStepRead = "global_step/Read/ReadVariableOp:0"

// boundSignature maps a signature's tensor keys to graph endpoints, resolved once at open time.
type boundSignature struct {
	inputs, outputs map[string]tf.Output
}

// Open loads the SavedModel in dir and checks that it carries every signature of the contract
// with the expected keys, dtypes and shapes, and a saver so it can be saved again.
// Errors: ENOTFOUND when dir or its saved_model.pb is missing; EINVALID when the SavedModel
// cannot be loaded or breaks the contract (the message names the signature or tensor).
func Open(dir string) (*Model, error) {
	pbPath := filepath.Join(dir, "saved_model.pb")
	raw, err := os.ReadFile(pbPath)
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(dir); statErr != nil {
			return nil, gan.Errorf(gan.ENOTFOUND, "model directory %s does not exist", dir)
		}
		return nil, gan.Errorf(gan.ENOTFOUND, "model directory %s has no saved_model.pb", dir)
	} else if err != nil {
		return nil, gan.Wrap(err, gan.EINVALID, "cannot read "+pbPath)
	}
	saver, err := readSaverDef(pbPath, raw)
	if err != nil {
		return nil, err
	}

	loaded, err := tf.LoadSavedModel(dir, []string{serveTag}, nil)
	if err != nil {
		return nil, gan.Wrap(err, gan.EINVALID, "cannot load SavedModel "+dir)
	}
	m := &Model{dir: dir, savedModel: raw, session: loaded.Session, sigs: map[string]boundSignature{},
		specs: signatureSpecs(loaded.Signatures)}
	if err := m.bind(loaded, saver); err != nil {
		_ = loaded.Session.Close()
		return nil, err
	}
	return m, nil
}

// readSaverDef finds the serving MetaGraphDef's saver_def, which is how a C API client writes
// variables back out (the same mechanism TF Java's SavedModelBundle uses).
func readSaverDef(path string, raw []byte) (*pb.SaverDef, error) {
	var sm pb.SavedModel
	if err := proto.Unmarshal(raw, &sm); err != nil {
		return nil, gan.Wrap(err, gan.EINVALID, path+" is not a SavedModel")
	}
	for _, mg := range sm.GetMetaGraphs() {
		for _, tag := range mg.GetMetaInfoDef().GetTags() {
			if tag != serveTag {
				continue
			}
			sd := mg.GetSaverDef()
			if sd.GetFilenameTensorName() == "" || sd.GetSaveTensorName() == "" {
				return nil, gan.Errorf(gan.EINVALID, "%s has no saver_def, so its variables cannot be saved", path)
			}
			return sd, nil
		}
	}
	return nil, gan.Errorf(gan.EINVALID, "%s has no MetaGraphDef tagged %q", path, serveTag)
}

func (m *Model) bind(loaded *tf.SavedModel, saver *pb.SaverDef) error {
	// A model is conditional when generate takes labels; the contract then requires them on
	// train_step too, so the kind is decided by one input and checked everywhere.
	_, m.conditional = loaded.Signatures[SignatureGenerate].Inputs[KeyLabels]
	contract := contractFor(m.conditional)
	// Signatures and their keys are checked in a fixed order, so a model with several faults
	// always gets the same message; every missing signature is named at once.
	names := slices.Sorted(maps.Keys(contract))
	var missing []string
	for _, name := range names {
		if _, ok := loaded.Signatures[name]; !ok {
			missing = append(missing, strconv.Quote(name))
		}
	}
	if len(missing) > 0 {
		var have []string
		for _, name := range slices.Sorted(maps.Keys(loaded.Signatures)) {
			if !strings.HasPrefix(name, "__") { // TensorFlow's own, such as __saved_model_init_op
				have = append(have, strconv.Quote(name))
			}
		}
		return gan.Errorf(gan.EINVALID, "model %s has no %s signature; it has %s", m.dir, joinWords(missing, "or"), joinWords(have, "and"))
	}
	for _, name := range names {
		spec, sig := contract[name], loaded.Signatures[name]
		b := boundSignature{inputs: map[string]tf.Output{}, outputs: map[string]tf.Output{}}
		for _, side := range []struct {
			role  string
			infos map[string]tf.TensorInfo
			specs map[string]tensorSpec
			into  map[string]tf.Output
		}{
			{"input", sig.Inputs, spec.inputs, b.inputs},
			{"output", sig.Outputs, spec.outputs, b.outputs},
		} {
			for _, key := range slices.Sorted(maps.Keys(side.specs)) {
				want := side.specs[key]
				info, ok := side.infos[key]
				if !ok {
					return gan.Errorf(gan.EINVALID, "model %s: signature %q has no %s %q", m.dir, name, side.role, key)
				}
				if err := checkTensor(m.dir, name, side.role, key, info, want); err != nil {
					return err
				}
				out, err := graphOutput(loaded.Graph, info.Name)
				if err != nil {
					return gan.Wrap(err, gan.EINVALID, fmt.Sprintf("model %s: signature %q %s %q", m.dir, name, side.role, key))
				}
				side.into[key] = out
			}
		}
		// An input the host would not feed (labels on train_step only, say) makes the signature
		// unusable; refuse it now rather than on the first request.
		for _, key := range slices.Sorted(maps.Keys(sig.Inputs)) {
			if _, ok := spec.inputs[key]; !ok {
				return gan.Errorf(gan.EINVALID, "model %s: signature %q has an unexpected input %q", m.dir, name, key)
			}
		}
		m.sigs[name] = b
	}
	var err error
	if m.saverFilename, err = graphOutput(loaded.Graph, saver.GetFilenameTensorName()); err != nil {
		return gan.Wrap(err, gan.EINVALID, "model "+m.dir+": saver filename tensor")
	}
	if m.saverSave, err = graphOutput(loaded.Graph, saver.GetSaveTensorName()); err != nil {
		return gan.Wrap(err, gan.EINVALID, "model "+m.dir+": saver save tensor")
	}
	if out, err := graphOutput(loaded.Graph, globalStepRead); err == nil && out.DataType() == tf.Int64 {
		m.globalStep = &out
	}
	return nil
}

// graphOutput resolves a tensor name such as "StatefulPartitionedCall:1".
func graphOutput(g *tf.Graph, name string) (tf.Output, error) {
	opName, idx := name, 0
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		n, err := strconv.Atoi(name[i+1:])
		if err != nil {
			return tf.Output{}, fmt.Errorf("bad tensor name %q", name)
		}
		opName, idx = name[:i], n
	}
	op := g.Operation(opName)
	if op == nil {
		return tf.Output{}, fmt.Errorf("graph has no operation %q", opName)
	}
	if idx < 0 || idx >= op.NumOutputs() {
		return tf.Output{}, fmt.Errorf("operation %q has no output %d", opName, idx)
	}
	return op.Output(idx), nil
}

// GlobalStep returns the global step held in the model's variables (as loaded, or after its
// training steps); 0 when the graph has no global_step variable to read.
// Errors: EUNAVAILABLE when the model is closed; EINTERNAL when TensorFlow fails.
func (m *Model) GlobalStep() (int64, error) {
	if m.globalStep == nil {
		return 0, nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.session == nil {
		return 0, gan.Errorf(gan.EUNAVAILABLE, "model %s is closed", m.dir)
	}
	out, err := m.session.Run(nil, []tf.Output{*m.globalStep}, nil)
	if err != nil {
		return 0, gan.Wrap(err, gan.EINTERNAL, "reading the global step of "+m.dir)
	}
	step, _ := out[0].Value().(int64) // bind checked the dtype
	runtime.KeepAlive(out)
	return step, nil
}

// Conditional reports whether the model generates and trains on class labels.
func (m *Model) Conditional() bool { return m.conditional }

// Dir returns the directory the model was loaded from.
func (m *Model) Dir() string { return m.dir }

// Close releases the TensorFlow session. The model must not be used afterwards.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.session == nil {
		return nil
	}
	err := m.session.Close()
	m.session = nil
	return err
}

// Generate maps n noise vectors (z: n*100 values, row-major) to n images (n*28*28 values in
// [-1, 1], row-major [n, 28, 28, 1]) in inference mode. A conditional model needs n labels in
// 0..9; an unconditional one takes nil.
// Errors: EINVALID when len(z) != n*100, n < 1 or the labels do not fit the model;
// EINTERNAL when TensorFlow fails.
func (m *Model) Generate(z []float32, labels []int32, n int) ([]float32, error) {
	if err := checkBatch(KeyZ, z, n, gan.LatentDim); err != nil {
		return nil, err
	}
	if err := m.checkLabels(labels, n); err != nil {
		return nil, err
	}
	// Pad to whole row blocks: the CPU kernels compute the last rows of some batch sizes
	// differently (in about 1e-8) from the same rows in other sizes, so without this an image
	// would depend on what else was batched with its request. See GenerateRowBlock.
	padded := (n + GenerateRowBlock - 1) / GenerateRowBlock * GenerateRowBlock
	if padded != n {
		z = append(z[:len(z):len(z)], make([]float32, (padded-n)*gan.LatentDim)...)
		if labels != nil {
			labels = append(labels[:len(labels):len(labels)], make([]int32, padded-n)...)
		}
	}
	feeds := map[string]feed{KeyZ: {data: z, shape: zShape(padded)}}
	if m.conditional {
		feeds[KeyLabels] = feed{labels: labels, shape: []int64{int64(padded)}}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out, err := m.run(SignatureGenerate, feeds, KeyImages)
	if err != nil {
		return nil, err
	}
	images, err := float32s(out[0], padded*gan.ImagePixels)
	if err != nil {
		return nil, err
	}
	return images[:n*gan.ImagePixels], nil
}

// GenerateRowBlock is the granularity Generate pads its batches to. It is measured, not
// derived: with 16-row blocks, runs of 32, 80, 128, ... rows (48k+32) computed their last two
// rows differently from every other size, as did some larger sizes with two threads; with
// 48-row blocks no row of any size up to 768 differed, for the MLP generators and the tiny
// fixture alike. TestGenerateRowsIndependentOfBatch scans sizes and positions to keep it so.
const GenerateRowBlock = 48

// Discriminate returns the discriminator's logit (positive means "real") for each of n images
// (n*28*28 values in [-1, 1]).
// Errors: EINVALID when len(images) != n*784 or n < 1; EINTERNAL when TensorFlow fails.
func (m *Model) Discriminate(images []float32, n int) ([]float32, error) {
	if err := checkBatch(KeyImages, images, n, gan.ImagePixels); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out, err := m.run(SignatureDiscriminate, map[string]feed{KeyImages: {data: images, shape: imagesShape(n)}}, KeyLogits)
	if err != nil {
		return nil, err
	}
	return float32s(out[0], n)
}

// TrainStep runs one discriminator and one generator update on n real images (n*784 values in
// [-1, 1]) and n noise vectors (n*100 values), updating the model's variables in place. A
// conditional model also needs the real images' n labels; an unconditional one takes nil.
// Errors: EINVALID for mismatched lengths or labels; EINTERNAL when TensorFlow fails or a loss
// is not finite (the weights have then diverged and the caller should not save them).
func (m *Model) TrainStep(images, z []float32, labels []int32, n int) (gan.StepResult, error) {
	if err := checkBatch(KeyImages, images, n, gan.ImagePixels); err != nil {
		return gan.StepResult{}, err
	}
	if err := checkBatch(KeyZ, z, n, gan.LatentDim); err != nil {
		return gan.StepResult{}, err
	}
	feeds := map[string]feed{KeyImages: {data: images, shape: imagesShape(n)}, KeyZ: {data: z, shape: zShape(n)}}
	if err := m.addLabels(feeds, labels, n); err != nil {
		return gan.StepResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out, err := m.run(SignatureTrainStep, feeds, KeyDLoss, KeyGLoss, KeyStep)
	if err != nil {
		return gan.StepResult{}, err
	}
	dLoss, okD := out[0].Value().(float32)
	gLoss, okG := out[1].Value().(float32)
	step, okS := out[2].Value().(int64)
	runtime.KeepAlive(out) // see float32s: the tensors must outlive graft's reads of their C memory
	if !okD || !okG || !okS {
		return gan.StepResult{}, gan.Errorf(gan.EINTERNAL, "train_step returned unexpected types")
	}
	res := gan.StepResult{Step: step, DLoss: dLoss, GLoss: gLoss}
	if !finite(dLoss) || !finite(gLoss) {
		return res, gan.Errorf(gan.EINTERNAL, "training diverged at step %d: d_loss=%v g_loss=%v", step, dLoss, gLoss)
	}
	return res, nil
}

// feed is one input: float32 data, or int32 labels.
type feed struct {
	data   []float32
	labels []int32
	shape  []int64
}

// addLabels adds the labels input of a conditional model, checking that the labels fit it.
func (m *Model) addLabels(feeds map[string]feed, labels []int32, n int) error {
	if err := m.checkLabels(labels, n); err != nil {
		return err
	}
	if m.conditional {
		feeds[KeyLabels] = feed{labels: labels, shape: []int64{int64(n)}}
	}
	return nil
}

// checkLabels checks that labels fit the model: n labels in 0..9 for a conditional model, nil
// for an unconditional one. Out-of-range labels are refused here: TensorFlow would fail the
// embedding lookup with an internal error instead.
func (m *Model) checkLabels(labels []int32, n int) error {
	switch {
	case !m.conditional && labels != nil:
		return gan.Errorf(gan.EINVALID, "labels given, but model %s is unconditional", m.dir)
	case !m.conditional:
		return nil
	case len(labels) != n:
		return gan.Errorf(gan.EINVALID, "%s: got %d labels, want %d (conditional model %s)", KeyLabels, len(labels), n, m.dir)
	}
	for i, l := range labels {
		if l < 0 || l >= gan.NumClasses {
			return gan.Errorf(gan.EINVALID, "%s[%d] must be in 0..%d, got %d", KeyLabels, i, gan.NumClasses-1, l)
		}
	}
	return nil
}

// run executes one signature; callers hold m.mu.
func (m *Model) run(sigName string, feeds map[string]feed, fetchKeys ...string) ([]*tf.Tensor, error) {
	if m.session == nil {
		return nil, gan.Errorf(gan.EUNAVAILABLE, "model %s is closed", m.dir)
	}
	sig := m.sigs[sigName]
	feedMap := make(map[tf.Output]*tf.Tensor, len(feeds))
	for key, f := range feeds {
		t, err := newTensor(f)
		if err != nil {
			return nil, gan.Wrap(err, gan.EINTERNAL, "cannot build tensor "+key)
		}
		feedMap[sig.inputs[key]] = t
	}
	fetches := make([]tf.Output, len(fetchKeys))
	for i, key := range fetchKeys {
		fetches[i] = sig.outputs[key]
	}
	out, err := m.session.Run(feedMap, fetches, nil)
	runtime.KeepAlive(feedMap)
	collectFedTensors(feeds)
	if err != nil {
		return nil, gan.Wrap(err, gan.EINTERNAL, "running signature "+sigName)
	}
	return out, nil
}

// gcEveryFedBytes bounds the C memory held by dead input tensors. graft frees tensors only in
// finalizers, which run after a Go GC; training allocates little Go memory, so GCs are rare and
// dead TF tensors piled up (RSS grew by hundreds of MB over thousands of steps).
const gcEveryFedBytes = 64 << 20

var fedBytes atomic.Int64

func collectFedTensors(feeds map[string]feed) {
	var n int64
	for _, f := range feeds {
		n += int64(len(f.data)+len(f.labels)) * 4
	}
	if fedBytes.Add(n) > gcEveryFedBytes {
		fedBytes.Store(0)
		runtime.GC()
	}
}

func checkBatch(key string, data []float32, n, perItem int) error {
	if n < 1 {
		return gan.Errorf(gan.EINVALID, "%s: batch size must be at least 1, got %d", key, n)
	}
	if len(data) != n*perItem {
		return gan.Errorf(gan.EINVALID, "%s: got %d values, want %d (%d x %d)", key, len(data), n*perItem, n, perItem)
	}
	return nil
}

func zShape(n int) []int64      { return []int64{int64(n), gan.LatentDim} }
func imagesShape(n int) []int64 { return []int64{int64(n), gan.ImageSize, gan.ImageSize, 1} }

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// joinWords lists words as prose: "a", "a or b", "a, b or c" ("none" for no words).
func joinWords(words []string, conjunction string) string {
	switch len(words) {
	case 0:
		return "none"
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conjunction + " " + words[len(words)-1]
}
