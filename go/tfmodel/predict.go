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
		z, labels, n, err := m.generateInputs(name, inputs, maxN)
		if err != nil {
			return nil, err
		}
		images, err := m.Generate(z, labels, n)
		if err != nil {
			return nil, err
		}
		return map[string]gan.Tensor{KeyImages: {Shape: []int{n, gan.ImageSize, gan.ImageSize, 1}, Float32: images}}, nil
	case SignatureDiscriminate:
		if err := checkInputNames(name, inputs, []string{KeyImages}); err != nil {
			return nil, err
		}
		images, n, err := floatInput(name, KeyImages, inputs[KeyImages], []int{gan.ImageSize, gan.ImageSize, 1}, maxN)
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

// isGenerate reports whether a predict request's signature name means generate.
func isGenerate(signature string) bool {
	return signature == "" || signature == servingDefault || signature == SignatureGenerate
}

// generateInputs checks the inputs of a generate predict request against this model and
// returns z, the labels (nil for an unconditional model) and the batch size.
func (m *Model) generateInputs(sig string, inputs map[string]gan.Tensor, maxN int) ([]float32, []int32, int, error) {
	want := []string{KeyZ}
	if m.conditional {
		want = append(want, KeyLabels)
	}
	if err := checkInputNames(sig, inputs, want); err != nil {
		return nil, nil, 0, err
	}
	z, n, err := floatInput(sig, KeyZ, inputs[KeyZ], []int{gan.LatentDim}, maxN)
	if err != nil {
		return nil, nil, 0, err
	}
	var labels []int32
	if m.conditional {
		if labels, err = labelInput(sig, inputs[KeyLabels], n); err != nil {
			return nil, nil, 0, err
		}
	}
	return z, labels, n, nil
}

// checkInputNames requires inputs to hold exactly the keys in want.
func checkInputNames(sig string, inputs map[string]gan.Tensor, want []string) error {
	for k := range inputs {
		if !slices.Contains(want, k) {
			return gan.Errorf(gan.EINVALID, "signature %q has no input %q; its inputs are %s", sig, k, strings.Join(want, ", "))
		}
	}
	for _, k := range want {
		if _, ok := inputs[k]; !ok {
			return gan.Errorf(gan.EINVALID, "signature %q needs input %q; its inputs are %s", sig, k, strings.Join(want, ", "))
		}
	}
	return nil
}

// floatInput checks that t has shape [N, item...] with 1 <= N <= maxN and returns its values and N.
func floatInput(sig, key string, t gan.Tensor, item []int, maxN int) ([]float32, int, error) {
	if len(t.Shape) != len(item)+1 || !slices.Equal(t.Shape[1:], item) {
		return nil, 0, gan.Errorf(gan.EINVALID, "input %q of signature %q must have shape %s with N in 1..%d, got %v", key, sig, shapeString(item), maxN, t.Shape)
	}
	n := t.Shape[0]
	if n < 1 || n > maxN {
		return nil, 0, gan.Errorf(gan.EINVALID, "input %q of signature %q must have shape %s with N in 1..%d, got N=%d", key, sig, shapeString(item), maxN, n)
	}
	return t.Float32, n, nil
}

// labelInput checks that t holds n whole numbers in 0..9 and returns them as int32.
func labelInput(sig string, t gan.Tensor, n int) ([]int32, error) {
	if len(t.Shape) != 1 || t.Shape[0] != n {
		return nil, gan.Errorf(gan.EINVALID, "input %q of signature %q must have shape [%d] (one label per z), got %v", KeyLabels, sig, n, t.Shape)
	}
	labels := make([]int32, n)
	for i, v := range t.Float32 {
		if v != float32(int32(v)) || v < 0 || v >= gan.NumClasses {
			return nil, gan.Errorf(gan.EINVALID, "input %q of signature %q must hold integers in 0..%d, got %v at %d", KeyLabels, sig, gan.NumClasses-1, v, i)
		}
		labels[i] = int32(v)
	}
	return labels, nil
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
