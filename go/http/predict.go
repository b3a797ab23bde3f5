package ganhttp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ganhost/ganhost/go/gan"
)

// predictRequest is TF Serving's predict body: row format ("instances") or columnar ("inputs").
type predictRequest struct {
	SignatureName string          `json:"signature_name"`
	Instances     json.RawMessage `json:"instances"`
	Inputs        json.RawMessage `json:"inputs"`
}

const servingDefault = "serving_default"

// tfPredict serves POST /v1/models/{name}[/versions/{v}]:predict. Row requests get
// {"predictions": [...]} (one entry per instance), columnar ones {"outputs": ...}, as in TF
// Serving's REST API.
func (s *server) tfPredict(c echo.Context, p tfPath) error {
	var body predictRequest
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	row := body.Instances != nil
	if row == (body.Inputs != nil) {
		return gan.Errorf(gan.EINVALID, `the request body must have exactly one of "instances" (row format) or "inputs" (columnar format)`)
	}
	sigName := body.SignatureName
	if sigName == "" {
		sigName = servingDefault
	}
	sig, ok := s.svc.Signatures()[sigName]
	if !ok {
		return gan.Errorf(gan.EINVALID, "signature_name %q does not exist; available: %s", sigName, strings.Join(signatureNames(s.svc.Signatures()), ", "))
	}
	var inputs map[string]gan.Tensor
	var err error
	if row {
		inputs, err = parseInstances(body.Instances, sig)
	} else {
		inputs, err = parseColumnar(body.Inputs, sig)
	}
	if err != nil {
		return err
	}
	outputs, _, err := s.svc.Predict(c.Request().Context(), gan.PredictRequest{Version: p.version, Signature: sigName, Inputs: inputs})
	if err != nil {
		return err
	}
	if t, ok := outputs["images"]; ok && len(t.Shape) > 0 {
		s.metrics.images.Add(float64(t.Shape[0]))
	}
	var buf bytes.Buffer
	if err := encodeOutputs(&buf, outputs, row); err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, buf.Bytes())
}

func signatureNames(sigs map[string]gan.SignatureSpec) []string {
	names := make([]string, 0, len(sigs))
	for n := range sigs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func inputNames(sig gan.SignatureSpec) []string {
	names := make([]string, 0, len(sig.Inputs))
	for n := range sig.Inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// parseInstances reads the row format: a list with one entry per example, either the value of
// the signature's only input or an object of named inputs.
func parseInstances(raw json.RawMessage, sig gan.SignatureSpec) (map[string]gan.Tensor, error) {
	var instances []any
	if err := json.Unmarshal(raw, &instances); err != nil || len(instances) == 0 {
		return nil, gan.Errorf(gan.EINVALID, `"instances" must be a non-empty JSON list`)
	}
	named := map[string][]any{}
	if _, isObject := instances[0].(map[string]any); isObject {
		for i, inst := range instances {
			obj, ok := inst.(map[string]any)
			if !ok || len(obj) != len(instances[0].(map[string]any)) {
				return nil, gan.Errorf(gan.EINVALID, "instances[%d] must be an object with the same inputs as instances[0]", i)
			}
			for k, v := range obj {
				named[k] = append(named[k], v)
			}
		}
	} else {
		only, err := onlyInput(sig, "instances")
		if err != nil {
			return nil, err
		}
		named[only] = instances
	}
	out := make(map[string]gan.Tensor, len(named))
	for k, values := range named {
		t, err := toTensor(values, k)
		if err != nil {
			return nil, err
		}
		out[k] = t
	}
	return out, nil
}

// parseColumnar reads the columnar format: the value of the only input, or an object of inputs.
func parseColumnar(raw json.RawMessage, sig gan.SignatureSpec) (map[string]gan.Tensor, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, gan.Errorf(gan.EINVALID, `"inputs" must be a JSON list or object`)
	}
	out := map[string]gan.Tensor{}
	if obj, ok := v.(map[string]any); ok {
		for k, val := range obj {
			t, err := toTensor(val, k)
			if err != nil {
				return nil, err
			}
			out[k] = t
		}
		return out, nil
	}
	only, err := onlyInput(sig, "inputs")
	if err != nil {
		return nil, err
	}
	t, err := toTensor(v, only)
	if err != nil {
		return nil, err
	}
	out[only] = t
	return out, nil
}

func onlyInput(sig gan.SignatureSpec, field string) (string, error) {
	names := inputNames(sig)
	if len(names) != 1 {
		return "", gan.Errorf(gan.EINVALID, "this signature has inputs %s: %q must name them in objects", strings.Join(names, ", "), field)
	}
	return names[0], nil
}

// toTensor converts a nested JSON list of numbers into a dense float32 tensor.
func toTensor(v any, name string) (gan.Tensor, error) {
	var shape []int
	for cur := v; ; {
		list, ok := cur.([]any)
		if !ok {
			break
		}
		shape = append(shape, len(list))
		if len(list) == 0 {
			break
		}
		cur = list[0]
	}
	size := 1
	for _, d := range shape {
		size *= d
		if size > 1<<28 { // bounded by the body limit anyway; guards the allocation below
			return gan.Tensor{}, gan.Errorf(gan.EINVALID, "input %q is too large", name)
		}
	}
	// The shape comes from the first list at each depth only, so a ragged body of 1 KB can
	// declare 2^28 values: preallocate a bounded amount and let the values that do arrive grow it.
	t := gan.Tensor{Shape: shape, Float32: make([]float32, 0, min(size, 1<<16))}
	if err := flatten(v, shape, &t.Float32); err != nil {
		return gan.Tensor{}, gan.Errorf(gan.EINVALID, "input %q: %s", name, err)
	}
	return t, nil
}

func flatten(v any, shape []int, out *[]float32) error {
	if len(shape) == 0 {
		f, ok := v.(float64)
		if !ok {
			return fmt.Errorf("values must be numbers; got %s (binary {\"b64\": ...} inputs are not supported: every input is float32)", jsonType(v))
		}
		f32 := float32(f)
		if math.IsInf(float64(f32), 0) {
			return fmt.Errorf("value %g is out of float32 range", f)
		}
		*out = append(*out, f32)
		return nil
	}
	list, ok := v.([]any)
	if !ok || len(list) != shape[0] {
		return fmt.Errorf("the nested lists must be rectangular (every list at one depth the same length)")
	}
	for _, item := range list {
		if err := flatten(item, shape[1:], out); err != nil {
			return err
		}
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// encodeOutputs writes {"predictions": ...} or {"outputs": ...} directly: encoding/json would
// need the tensors as nested slices of interfaces first.
func encodeOutputs(buf *bytes.Buffer, outputs map[string]gan.Tensor, row bool) error {
	names := make([]string, 0, len(outputs))
	for k, t := range outputs {
		for _, f := range t.Float32 {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return gan.Errorf(gan.EINTERNAL, "output %q holds a non-finite value", k)
			}
		}
		names = append(names, k)
	}
	slices.Sort(names)
	single := len(names) == 1
	if !row {
		buf.WriteString(`{"outputs":`)
		if single {
			writeNested(buf, outputs[names[0]], 0, 0)
		} else {
			writeObject(buf, outputs, names, -1)
		}
		buf.WriteString("}")
		return nil
	}
	buf.WriteString(`{"predictions":[`)
	batch := outputs[names[0]].Shape[0]
	for i := range batch {
		if i > 0 {
			buf.WriteByte(',')
		}
		if single {
			writeItem(buf, outputs[names[0]], i)
		} else {
			writeObject(buf, outputs, names, i)
		}
	}
	buf.WriteString("]}")
	return nil
}

// writeObject writes {"name": value, ...}; item < 0 writes whole tensors, else one batch item.
func writeObject(buf *bytes.Buffer, outputs map[string]gan.Tensor, names []string, item int) {
	buf.WriteByte('{')
	for j, k := range names {
		if j > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(strconv.Quote(k))
		buf.WriteByte(':')
		if item < 0 {
			writeNested(buf, outputs[k], 0, 0)
		} else {
			writeItem(buf, outputs[k], item)
		}
	}
	buf.WriteByte('}')
}

// writeItem writes batch item i of t (its shape without the batch dimension).
func writeItem(buf *bytes.Buffer, t gan.Tensor, i int) {
	per := 1
	for _, d := range t.Shape[1:] {
		per *= d
	}
	writeNested(buf, t, 1, i*per)
}

// writeNested writes t's values from offset as nested lists over t.Shape[depth:].
func writeNested(buf *bytes.Buffer, t gan.Tensor, depth, offset int) int {
	if depth == len(t.Shape) {
		buf.Write(strconv.AppendFloat(buf.AvailableBuffer(), float64(t.Float32[offset]), 'g', -1, 32))
		return offset + 1
	}
	buf.WriteByte('[')
	for i := range t.Shape[depth] {
		if i > 0 {
			buf.WriteByte(',')
		}
		offset = writeNested(buf, t, depth+1, offset)
	}
	buf.WriteByte(']')
	return offset
}
