package tfmodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ganhost/ganhost/go/dataset"
	"github.com/ganhost/ganhost/go/gan"
)

// HostConfig configures a Host.
type HostConfig struct {
	Name            string           // model name in URLs, e.g. "gan"
	Base            string           // TF-Serving-style base path: numeric subdirectories are versions
	Dataset         *dataset.Dataset // what training samples from; nil disables training
	DatasetName     string           // shown in the status
	CheckpointEvery int              // save a version every N trained steps; 0 = off
	MaxN            int              // largest batch for generation and predict
	MaxConcurrent   int              // generation/predict calls running at once; more get EUNAVAILABLE
	Batch           BatchConfig      // coalescing of concurrent generation requests
	// Replica makes a read-only host: no training and no version writes (a single trainer
	// instance writes versions to the shared base path), and no training session is loaded.
	Replica bool
	// PollVersions, when > 0, checks the base path this often and serves a newer complete
	// version as soon as one appears (TF Serving's "serve latest" policy), without a restart.
	PollVersions time.Duration
	Logger       *slog.Logger
}

// Host implements gan.Service on the versions under a base path. It serves the newest saved
// version from one session and trains a second session holding the training state, so generation
// never waits for training and a version always generates the same images. Saving writes the
// training state as the next version and swaps it in without dropping in-flight requests.
type Host struct {
	cfg HostConfig
	log *slog.Logger

	servedMu sync.RWMutex // guards served (the pointer, not the model)
	served   *servedModel

	trainMu   sync.Mutex // held by a training run or a save: one at a time
	trainer   *Model     // training state; guarded by trainMu
	progress  atomic.Pointer[gan.TrainProgress]
	historyMu sync.Mutex
	history   []gan.StepResult // ring of the last gan.MaxHistory steps, oldest first once full
	historyAt int              // next write position once the ring is full
	step      atomic.Int64     // global step of the training state (a replica: of the served version)
	unsaved   atomic.Int64     // steps since the last saved version

	slots chan struct{} // generation/predict concurrency cap

	badMu sync.Mutex
	bad   map[int64]error // versions that failed to load (start-up or following); reported in Status

	queue       chan *genJob // generation requests waiting for a batch; nil when batching is off
	stopBatches chan struct{}
	batches     atomic.Int64
	batchedRows atomic.Int64

	closing context.Context // cancelled by Close: interrupts a training run
	cancel  context.CancelFunc
}

// servedModel is one loaded version; refs counts calls using it so a swap can close it after
// they finish.
type servedModel struct {
	model   *Model
	version int64
	refs    sync.WaitGroup
}

var _ gan.Service = (*Host)(nil)

// OpenHost loads the newest complete version under cfg.Base twice: once to serve, once to train.
// Errors: those of OpenLatest.
func OpenHost(cfg HostConfig) (*Host, error) {
	if cfg.MaxN < 1 {
		cfg.MaxN = gan.DefaultMaxN
	}
	if cfg.MaxConcurrent < 1 {
		cfg.MaxConcurrent = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	serving, version, bad, err := OpenNewestLoadable(cfg.Base)
	if err != nil {
		return nil, err
	}
	for v, verr := range bad {
		cfg.Logger.Error("model version does not load; serving an older one", "version", v, "served", version, "err", verr)
	}
	if !cfg.Replica {
		// The single writer cleans up after its own interrupted saves; a replica must not, as
		// the trainer may be writing one right now.
		removeInterruptedSaves(cfg.Base, cfg.Logger)
	}
	for _, dir := range incompleteVersions(cfg.Base) {
		cfg.Logger.Warn("ignoring a version directory without saved_model.pb or variables/variables.index", "dir", dir)
	}
	var trainer *Model
	if !cfg.Replica {
		if trainer, err = Open(VersionDir(cfg.Base, version)); err != nil {
			serving.Close()
			return nil, err
		}
	}
	h := &Host{
		cfg:     cfg,
		bad:     bad,
		log:     cfg.Logger,
		served:  &servedModel{model: serving, version: version},
		trainer: trainer,
		slots:   make(chan struct{}, cfg.MaxConcurrent),
	}
	if trainer != nil {
		h.step.Store(h.loadedStep(trainer))
	} else {
		h.step.Store(h.loadedStep(serving))
	}
	h.closing, h.cancel = context.WithCancel(context.Background())
	if cfg.Batch.MaxRows > 0 {
		h.queue = make(chan *genJob, cfg.MaxConcurrent)
		h.stopBatches = make(chan struct{})
		go h.runBatches(h.stopBatches)
	}
	if cfg.PollVersions > 0 {
		go h.followVersions(cfg.PollVersions)
	}
	return h, nil
}

// followVersions serves each newer complete version that appears under the base path.
func (h *Host) followVersions(every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	failed := map[int64]bool{} // versions that would not load: reported once, not retried
	for {
		select {
		case <-h.closing.Done():
			return
		case <-ticker.C:
		}
		versions, err := Versions(h.cfg.Base)
		if err != nil || len(versions) == 0 {
			continue
		}
		newest := versions[len(versions)-1]
		if newest <= h.ServedVersion() || failed[newest] {
			continue
		}
		m, err := Open(VersionDir(h.cfg.Base, newest))
		if err != nil {
			failed[newest] = true
			h.badMu.Lock()
			h.bad[newest] = err
			h.badMu.Unlock()
			h.log.Error("new version does not load; still serving the previous one", "version", newest, "served", h.ServedVersion(), "err", err)
			continue
		}
		if h.cfg.Replica {
			h.step.Store(h.loadedStep(m))
		}
		h.swap(&servedModel{model: m, version: newest})
		h.log.Info("serving new version found in the base path", "version", newest)
	}
}

// loadedStep is the global step a just-opened model holds, so status shows where a loaded
// version's training stands before any step runs; 0 when the model carries no global step.
func (h *Host) loadedStep(m *Model) int64 {
	step, err := m.GlobalStep()
	if err != nil {
		h.log.Warn("cannot read the global step of a loaded version", "dir", m.Dir(), "err", err)
	}
	return step
}

// errReplica answers training and version writes on a read-only replica.
func (h *Host) errReplica() error {
	return gan.Errorf(gan.EUNAVAILABLE, "this server is a read-only replica: train and save versions on the trainer instance; new versions appear here automatically")
}

// acquire returns the served model with a reference the caller must release.
func (h *Host) acquire() *servedModel {
	h.servedMu.RLock()
	defer h.servedMu.RUnlock()
	s := h.served
	s.refs.Add(1) // under the read lock, so a swap's Wait cannot start before this Add
	return s
}

// swap serves next and closes the previous version once its in-flight calls are done.
func (h *Host) swap(next *servedModel) {
	h.servedMu.Lock()
	prev := h.served
	h.served = next
	h.servedMu.Unlock()
	go func() {
		prev.refs.Wait()
		_ = prev.model.Close()
	}()
}

// takeSlot enforces MaxConcurrent without queueing: a saturated host answers at once, so
// clients can back off instead of piling up.
func (h *Host) takeSlot() (release func(), err error) {
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, nil
	default:
		e := gan.Errorf(gan.EUNAVAILABLE, "the server is running its maximum of %d generation requests; retry shortly", h.cfg.MaxConcurrent)
		e.RetryAfter = time.Second
		return nil, e
	}
}

// Generate implements gan.Service.
func (h *Host) Generate(ctx context.Context, req gan.GenerateRequest) (gan.Images, error) {
	if err := req.Validate(h.cfg.MaxN); err != nil {
		return gan.Images{}, err
	}
	release, err := h.takeSlot()
	if err != nil {
		return gan.Images{}, err
	}
	defer release()
	res, err := h.generate(ctx, gan.Noise(req.Seed, req.N), req.N, req.Labels)
	if err == nil {
		err = res.err
	}
	if err != nil {
		return gan.Images{}, err
	}
	return gan.Images{Pixels: res.images, N: req.N, Seed: req.Seed, Version: res.version}, nil
}

// Train implements gan.Service.
func (h *Host) Train(ctx context.Context, req gan.TrainRequest) (gan.TrainResult, error) {
	if err := req.Validate(); err != nil {
		return gan.TrainResult{}, err
	}
	if h.cfg.Replica {
		return gan.TrainResult{}, h.errReplica()
	}
	if h.cfg.Dataset == nil {
		return gan.TrainResult{}, gan.Errorf(gan.EUNAVAILABLE, "training is unavailable: the server has no dataset (start it with -data)")
	}
	if req.BatchSize > h.cfg.Dataset.Len() {
		return gan.TrainResult{}, gan.Errorf(gan.EINVALID, "batch_size must be at most the dataset size %d, got %d", h.cfg.Dataset.Len(), req.BatchSize)
	}
	if h.closing.Err() != nil {
		e := gan.Errorf(gan.EUNAVAILABLE, "the server is shutting down")
		e.RetryAfter = 5 * time.Second // a restarted or sibling server can take it
		return gan.TrainResult{}, e
	}
	if !h.trainMu.TryLock() {
		return gan.TrainResult{}, h.conflict()
	}
	defer h.trainMu.Unlock()

	seed := rand.Int64N(1 << 53)
	if req.Seed != nil {
		seed = *req.Seed
	}
	sampler := dataset.NewSampler(h.cfg.Dataset, uint64(seed))
	noise := gan.NewNoiseSource(seed)
	progress := gan.TrainProgress{Steps: req.Steps, Step: h.step.Load(), Started: time.Now()}
	h.progress.Store(&progress)
	defer h.progress.Store(nil)

	res := gan.TrainResult{Seed: seed}
	var images, z []float32
	var labels []int32
	var dSum, gSum float64
	for res.StepsRun < req.Steps && ctx.Err() == nil && h.closing.Err() == nil {
		images, labels = sampler.BatchLabels(images, labels, req.BatchSize)
		z = noise.Next(z, req.BatchSize)
		last, err := h.trainer.TrainStep(images, z, h.labelsFor(labels), req.BatchSize)
		if err != nil {
			return res, h.recoverFromFailedStep(ctx, err)
		}
		res.Last = last
		res.StepsRun++
		dSum += float64(last.DLoss)
		gSum += float64(last.GLoss)
		h.step.Store(last.Step)
		h.record(last)
		unsaved := h.unsaved.Add(1)
		p := gan.TrainProgress{StepsRun: res.StepsRun, Steps: req.Steps, Step: last.Step, Started: progress.Started}
		h.progress.Store(&p)
		if h.cfg.CheckpointEvery > 0 && unsaved >= int64(h.cfg.CheckpointEvery) {
			if _, err := h.saveLocked(ctx); err != nil {
				return res, err
			}
		}
	}
	res.Duration = time.Since(progress.Started)
	res.Images = res.StepsRun * req.BatchSize
	if res.StepsRun > 0 {
		res.DLossMean = dSum / float64(res.StepsRun)
		res.GLossMean = gSum / float64(res.StepsRun)
	}
	res.Version = h.ServedVersion()
	return res, nil
}

// record remembers a step for History.
func (h *Host) record(r gan.StepResult) {
	h.historyMu.Lock()
	defer h.historyMu.Unlock()
	if len(h.history) < gan.MaxHistory {
		h.history = append(h.history, r)
		return
	}
	h.history[h.historyAt] = r
	h.historyAt = (h.historyAt + 1) % gan.MaxHistory
}

// History implements gan.Service.
func (h *Host) History(since int64, limit int) []gan.StepResult {
	h.historyMu.Lock()
	defer h.historyMu.Unlock()
	out := []gan.StepResult{}
	for i := range h.history {
		r := h.history[(h.historyAt+i)%len(h.history)]
		if r.Step > since && len(out) < limit {
			out = append(out, r)
		}
	}
	return out
}

// labelsFor passes the batch's labels to a conditional trainer and nil to an unconditional one.
func (h *Host) labelsFor(labels []int32) []int32 {
	if h.trainer.Conditional() {
		return labels
	}
	return nil
}

// recoverFromFailedStep reloads the training state from the served version after a failed or
// diverged step, so a NaN-poisoned state can never be saved as a version.
func (h *Host) recoverFromFailedStep(ctx context.Context, stepErr error) error {
	log := gan.LoggerFrom(ctx, h.log)
	s := h.acquire()
	dir := s.model.Dir()
	s.refs.Done()
	fresh, err := Open(dir)
	if err != nil {
		log.Error("cannot reload the training state after a failed step", "dir", dir, "err", err)
		return stepErr
	}
	_ = h.trainer.Close()
	h.trainer = fresh
	lost := h.unsaved.Swap(0)
	h.step.Store(h.loadedStep(fresh))
	log.Warn("training step failed; training state reset to the served version", "dir", dir, "unsaved_steps_lost", lost, "err", stepErr)
	var e *gan.Error
	if errors.As(stepErr, &e) {
		return &gan.Error{Code: e.Code, Message: fmt.Sprintf("%s; the training state was reset to the served version (%d unsaved steps dropped)", e.Message, lost), Err: e.Err}
	}
	return stepErr
}

func (h *Host) conflict() error {
	e := gan.Errorf(gan.ECONFLICT, "a training run is in progress; retry when it has finished")
	if p := h.progress.Load(); p != nil {
		e.Err = &gan.ConflictError{Progress: *p}
	} else {
		e.Err = &gan.ConflictError{}
	}
	return e
}

// SaveVersion implements gan.Service.
func (h *Host) SaveVersion(ctx context.Context) (gan.VersionInfo, error) {
	if h.cfg.Replica {
		return gan.VersionInfo{}, h.errReplica()
	}
	if !h.trainMu.TryLock() {
		return gan.VersionInfo{}, h.conflict()
	}
	defer h.trainMu.Unlock()
	return h.saveLocked(ctx)
}

// saveLocked writes the training state as the next version and serves it; trainMu is held.
func (h *Host) saveLocked(ctx context.Context) (gan.VersionInfo, error) {
	v, err := h.trainer.SaveVersion(h.cfg.Base)
	if err != nil {
		return gan.VersionInfo{}, err
	}
	h.unsaved.Store(0)
	dir := VersionDir(h.cfg.Base, v)
	info := gan.VersionInfo{Version: v, Path: dir, Step: h.step.Load()}
	next, err := Open(dir)
	if err != nil {
		return info, gan.Wrap(err, gan.EINTERNAL, fmt.Sprintf("saved version %d but cannot load it", v))
	}
	h.swap(&servedModel{model: next, version: v})
	gan.LoggerFrom(ctx, h.log).Info("saved and serving new version", "version", v, "dir", dir, "step", info.Step)
	return info, nil
}

// ServedVersion returns the version being served.
func (h *Host) ServedVersion() int64 {
	h.servedMu.RLock()
	defer h.servedMu.RUnlock()
	return h.served.version
}

// Status implements gan.Service.
func (h *Host) Status() gan.ModelStatus {
	versions, _ := Versions(h.cfg.Base)
	st := gan.ModelStatus{
		Name:          h.cfg.Name,
		Base:          h.cfg.Base,
		ServedVersion: h.ServedVersion(),
		Versions:      versions,
		Step:          h.step.Load(),
		UnsavedSteps:  h.unsaved.Load(),
		Training:      h.progress.Load(),
	}
	s := h.acquire()
	st.Conditional = s.model.Conditional()
	s.refs.Done()
	if h.cfg.Dataset != nil {
		st.Dataset = h.cfg.DatasetName
	}
	h.badMu.Lock()
	for v, err := range h.bad {
		if st.BadVersions == nil {
			st.BadVersions = map[int64]string{}
		}
		st.BadVersions[v] = gan.ErrorMessage(err)
	}
	h.badMu.Unlock()
	return st
}

// Signatures implements gan.Service.
func (h *Host) Signatures() map[string]gan.SignatureSpec {
	s := h.acquire()
	defer s.refs.Done()
	return s.model.Signatures()
}

// Predict implements gan.Service. Only the inference signatures can be run; train_step changes
// the model and has its own endpoint.
func (h *Host) Predict(ctx context.Context, req gan.PredictRequest) (map[string]gan.Tensor, int64, error) {
	release, err := h.takeSlot()
	if err != nil {
		return nil, 0, err
	}
	defer release()
	s := h.acquire()
	defer s.refs.Done()
	if req.Version != 0 && req.Version != s.version {
		return nil, 0, gan.Errorf(gan.ENOTFOUND, "version %d of model %s is not served; the served version is %d", req.Version, h.cfg.Name, s.version)
	}
	if h.queue == nil || !isGenerate(req.Signature) {
		out, err := s.model.Predict(req.Signature, req.Inputs, h.cfg.MaxN)
		return out, s.version, err
	}
	// generate through the batcher, like /generate; the inputs are checked against this model.
	z, labels, n, err := s.model.generateInputs(SignatureGenerate, req.Inputs, h.cfg.MaxN)
	if err != nil {
		return nil, 0, err
	}
	res, err := h.generate(ctx, z, n, func(conditional bool) ([]int32, error) {
		if conditional != (labels != nil) {
			return nil, gan.Errorf(gan.EUNAVAILABLE, "the served model changed kind while the request waited; retry")
		}
		return labels, nil
	})
	if err == nil {
		err = res.err
	}
	if err != nil {
		return nil, 0, err
	}
	if req.Version != 0 && req.Version != res.version {
		return nil, 0, gan.Errorf(gan.ENOTFOUND, "version %d of model %s was replaced by version %d while the request waited", req.Version, h.cfg.Name, res.version)
	}
	return map[string]gan.Tensor{KeyImages: {Shape: []int{n, gan.ImageSize, gan.ImageSize, 1}, Float32: res.images}}, res.version, nil
}

// StopTraining interrupts a training run after its current step; later runs are refused.
// The steps run are kept.
func (h *Host) StopTraining() { h.cancel() }

// Close interrupts a training run, saves unsaved training steps as a new version (so a restart
// loses nothing) and releases the models.
func (h *Host) Close() error {
	h.cancel()
	if h.stopBatches != nil {
		close(h.stopBatches)
	}
	h.trainMu.Lock()
	defer h.trainMu.Unlock()
	var saveErr error
	if n := h.unsaved.Load(); n > 0 {
		info, err := h.saveLocked(context.Background())
		if err != nil {
			saveErr = err
			h.log.Error("cannot save unsaved training steps on shutdown", "steps", n, "err", err)
		} else {
			h.log.Info("saved unsaved training steps on shutdown", "steps", n, "version", info.Version)
		}
	}
	if h.trainer != nil {
		_ = h.trainer.Close()
	}
	s := h.acquire()
	s.refs.Done()
	s.refs.Wait()
	_ = s.model.Close()
	return saveErr
}
