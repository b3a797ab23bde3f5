package tfmodel

import (
	"fmt"
	"slices"
	"strings"

	tf "github.com/wamuir/graft/tensorflow"

	"github.com/ganhost/ganhost/go/gan"
)

// servingDefault is the signature TF Serving runs when a request names none.
const servingDefault = "serving_default"

// Signatures describes every signature of the model (including serving_default) as loaded.
func (m *Model) Signatures() map[string]gan.SignatureSpec {
	return m.specs
}

func signatureSpecs(sigs map[string]tf.Signature) map[string]gan.SignatureSpec {
	out := make(map[string]gan.SignatureSpec, len(sigs))
	for name, sig := range sigs {
		if strings.HasPrefix(name, "__") { // __saved_model_init_op is not callable
			continue
		}
		spec := gan.SignatureSpec{MethodName: sig.MethodName, Inputs: map[string]gan.TensorSpec{}, Outputs: map[string]gan.TensorSpec{}}
		for key, info := range sig.Inputs {
			spec.Inputs[key] = tensorSpecOf(info)
		}
		for key, info := range sig.Outputs {
			spec.Outputs[key] = tensorSpecOf(info)
		}
		out[name] = spec
	}
	return out
}

func tensorSpecOf(info tf.TensorInfo) gan.TensorSpec {
	var shape []int64
	for i := range info.Shape.NumDimensions() {
		shape = append(shape, info.Shape.Size(i))
	}
	return gan.TensorSpec{Name: info.Name, DType: dtypeName(info.DType), Shape: shape}
}

// dtypeName spells a dtype as TF Serving's metadata does.
func dtypeName(dt tf.DataType) string {
	switch dt {
	case tf.Float:
		return "DT_FLOAT"
	case tf.Double:
		return "DT_DOUBLE"
	case tf.Int32:
		return "DT_INT32"
	case tf.Int64:
		return "DT_INT64"
	case tf.String:
		return "DT_STRING"
	case tf.Bool:
		return "DT_BOOL"
	default:
		return fmt.Sprintf("DT_%d", int(dt))
	}
}

// Predict runs an inference signature on named inputs, checking names and shapes first.
// train_step is refused: it changes the model and belongs to the training API.
// Errors: EINVALID naming the signature, input and expected shape.
func (m *Model) Predict(signature string, inputs map[string]gan.Tensor, maxN int) (map[string]gan.Tensor, error) {
	name := signature
	if name == "" || name == servingDefault {
		name = SignatureGenerate
	}
	switch name {
	case SignatureGenerate:
		z, n, err := predictInput(name, inputs, KeyZ, []int{gan.LatentDim}, maxN)
		if err != nil {
			return nil, err
		}
		images, err := m.Generate(z, n)
		if err != nil {
			return nil, err
		}
		return map[string]gan.Tensor{KeyImages: {Shape: []int{n, gan.ImageSize, gan.ImageSize, 1}, Float32: images}}, nil
	case SignatureDiscriminate:
		images, n, err := predictInput(name, inputs, KeyImages, []int{gan.ImageSize, gan.ImageSize, 1}, maxN)
		if err != nil {
			return nil, err
		}
		logits, err := m.Discriminate(images, n)
		if err != nil {
			return nil, err
		}
		return map[string]gan.Tensor{KeyLogits: {Shape: []int{n, 1}, Float32: logits}}, nil
	case SignatureTrainStep:
		return nil, gan.Errorf(gan.EINVALID, "signature_name %q cannot be run through predict: it trains the model; use POST /train/step", name)
	default:
		return nil, gan.Errorf(gan.EINVALID, "signature_name %q does not exist; available: %s (default), %s, %s",
			signature, servingDefault, SignatureGenerate, SignatureDiscriminate)
	}
}

// predictInput checks that inputs hold exactly key, as float32 of shape [N, item...] with
// 1 <= N <= maxN, and returns its values and N.
func predictInput(sig string, inputs map[string]gan.Tensor, key string, item []int, maxN int) ([]float32, int, error) {
	for k := range inputs {
		if k != key {
			return nil, 0, gan.Errorf(gan.EINVALID, "signature %q has no input %q; its only input is %q", sig, k, key)
		}
	}
	t, ok := inputs[key]
	if !ok {
		return nil, 0, gan.Errorf(gan.EINVALID, "signature %q needs input %q", sig, key)
	}
	if t.Int64 != nil && t.Float32 == nil {
		return nil, 0, gan.Errorf(gan.EINVALID, "input %q of signature %q must be float32 numbers", key, sig)
	}
	if len(t.Shape) != len(item)+1 || !slices.Equal(t.Shape[1:], item) {
		return nil, 0, gan.Errorf(gan.EINVALID, "input %q of signature %q must have shape %s with N in 1..%d, got %v", key, sig, shapeString(item), maxN, t.Shape)
	}
	n := t.Shape[0]
	if n < 1 || n > maxN {
		return nil, 0, gan.Errorf(gan.EINVALID, "input %q of signature %q must have shape %s with N in 1..%d, got N=%d", key, sig, shapeString(item), maxN, n)
	}
	return t.Float32, n, nil
}

func shapeString(item []int) string {
	var b strings.Builder
	b.WriteString("[N")
	for _, d := range item {
		fmt.Fprintf(&b, ", %d", d)
	}
	b.WriteString("]")
	return b.String()
}
