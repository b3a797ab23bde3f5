package tfmodel

import (
	"fmt"
	"maps"

	tf "github.com/wamuir/graft/tensorflow"

	"github.com/ganhost/ganhost/go/gan"
)

// Signature names and tensor keys of the SavedModel contract. They mirror
// python/ganhost/signatures.py; a test checks both against a real export.
const (
	SignatureGenerate     = "generate"
	SignatureTrainStep    = "train_step"
	SignatureDiscriminate = "discriminate"

	KeyZ      = "z"
	KeyImages = "images"
	KeyLogits = "logits"
	KeyDLoss  = "d_loss"
	KeyGLoss  = "g_loss"
	KeyStep   = "step"
	KeyLabels = "labels" // int32 [N]: an extra input of generate and train_step in conditional models
)

// serveTag selects the MetaGraphDef every ganhost SavedModel is exported under.
const serveTag = "serve"

// tensorSpec is the dtype and shape a signature tensor must have; -1 stands for the batch.
type tensorSpec struct {
	dtype tf.DataType
	shape []int64
}

type signatureSpec struct {
	inputs, outputs map[string]tensorSpec
}

var (
	zSpec      = tensorSpec{tf.Float, []int64{-1, gan.LatentDim}}
	imagesSpec = tensorSpec{tf.Float, []int64{-1, gan.ImageSize, gan.ImageSize, 1}}
	scalarF32  = tensorSpec{tf.Float, []int64{}}
	labelsSpec = tensorSpec{tf.Int32, []int64{-1}}
)

// conditionalInputs are the inputs a conditional model adds to the contract.
var conditionalInputs = map[string]map[string]tensorSpec{
	SignatureGenerate:  {KeyLabels: labelsSpec},
	SignatureTrainStep: {KeyLabels: labelsSpec},
}

// contractFor returns the contract of an unconditional or a conditional model.
func contractFor(conditional bool) map[string]signatureSpec {
	if !conditional {
		return contract
	}
	out := make(map[string]signatureSpec, len(contract))
	for name, spec := range contract {
		inputs := maps.Clone(spec.inputs)
		maps.Copy(inputs, conditionalInputs[name])
		out[name] = signatureSpec{inputs: inputs, outputs: spec.outputs}
	}
	return out
}

// contract lists every signature the host needs, checked when a model is opened so that a wrong
// model fails at start-up rather than on the first request.
var contract = map[string]signatureSpec{
	SignatureGenerate: {
		inputs:  map[string]tensorSpec{KeyZ: zSpec},
		outputs: map[string]tensorSpec{KeyImages: imagesSpec},
	},
	SignatureTrainStep: {
		inputs: map[string]tensorSpec{KeyImages: imagesSpec, KeyZ: zSpec},
		outputs: map[string]tensorSpec{
			KeyDLoss: scalarF32,
			KeyGLoss: scalarF32,
			KeyStep:  {tf.Int64, []int64{}},
		},
	},
	SignatureDiscriminate: {
		inputs:  map[string]tensorSpec{KeyImages: imagesSpec},
		outputs: map[string]tensorSpec{KeyLogits: {tf.Float, []int64{-1, 1}}},
	},
}

// checkTensor reports how info differs from spec, naming the signature and key.
func checkTensor(dir, sigName, role, key string, info tf.TensorInfo, spec tensorSpec) error {
	if info.DType != spec.dtype {
		return gan.Errorf(gan.EINVALID, "model %s: signature %q %s %q has dtype %s, want %s",
			dir, sigName, role, key, dtypeName(info.DType), dtypeName(spec.dtype))
	}
	if !shapeMatches(info.Shape, spec.shape) {
		return gan.Errorf(gan.EINVALID, "model %s: signature %q %s %q has shape %v, want %v",
			dir, sigName, role, key, info.Shape, formatShape(spec.shape))
	}
	return nil
}

// shapeMatches accepts any batch size (a -1 in want) but requires every other dimension.
func shapeMatches(got tf.Shape, want []int64) bool {
	if got.NumDimensions() != len(want) {
		return false
	}
	for i := range want {
		if want[i] != -1 && got.Size(i) != want[i] {
			return false
		}
	}
	return true
}

func formatShape(s []int64) string {
	out := "["
	for i, d := range s {
		if i > 0 {
			out += ", "
		}
		if d < 0 {
			out += "N"
		} else {
			out += fmt.Sprint(d)
		}
	}
	return out + "]"
}
