package ganhttp

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/ganhost/ganhost/go/gan"
)

// These fuzz targets cover what a client controls before any model runs: query parameters,
// JSON bodies, TF Serving paths and predict tensors. None may panic, and every rejection must
// be a client error (EINVALID/ENOTFOUND), never an internal one.

func FuzzGenerateQuery(f *testing.F) {
	for _, q := range []string{"", "n=16", "n=0&seed=-1", "n=abc", "scale=9&format=gif", "digit=3&n=256", "n=1&n=2", "seed=99999999999999999999", "%zz", "n=%00"} {
		f.Add(q)
	}
	s := &server{cfg: Config{MaxN: gan.DefaultMaxN}}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // net/http would answer 400 before a handler runs
		}
		req, err := s.parseGenerate(q)
		if err == nil {
			err = req.Validate(s.cfg.MaxN)
		}
		if err != nil {
			wantClientError(t, err)
			return
		}
		if req.N < 1 || req.N > gan.DefaultMaxN || req.Scale < 1 || req.Scale > gan.MaxScale {
			t.Fatalf("accepted out-of-range request %+v from %q", req, raw)
		}
	})
}

func FuzzTrainBody(f *testing.F) {
	for _, b := range []string{"", "{}", `{"steps":5}`, `{"steps":"5"}`, `{"step":1}`, `[1]`, `{} {}`, `{"steps":1e99}`, `{"batch_size":-1,"seed":null}`, "\x00"} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var req trainRequest
		err := bindJSON(newContext(body), &req)
		if err != nil {
			wantClientError(t, err)
		}
	})
}

func FuzzPredictBody(f *testing.F) {
	for _, b := range []string{`{"instances":[[1,2]]}`, `{"inputs":{"z":[[1]],"labels":[3]}}`, `{"instances":[{"z":[1],"labels":2}]}`, `{"inputs":[[[[1]]]]}`, `{"instances":[]}`, `{"inputs":[["a"]]}`, `{"inputs":[[1],[2,3]]}`, `{"instances":[[1e40]]}`} {
		f.Add(b)
	}
	sig := gan.SignatureSpec{Inputs: map[string]gan.TensorSpec{"z": {}}}
	cond := gan.SignatureSpec{Inputs: map[string]gan.TensorSpec{"z": {}, "labels": {}}}
	f.Fuzz(func(t *testing.T, body string) {
		var req predictRequest
		if err := bindJSON(newContext(body), &req); err != nil {
			wantClientError(t, err)
			return
		}
		for _, spec := range []gan.SignatureSpec{sig, cond} {
			var inputs map[string]gan.Tensor
			var err error
			switch {
			case req.Instances != nil:
				inputs, err = parseInstances(req.Instances, spec)
			case req.Inputs != nil:
				inputs, err = parseColumnar(req.Inputs, spec)
			default:
				return
			}
			if err != nil {
				wantClientError(t, err)
				continue
			}
			for name, tensor := range inputs {
				size := 1
				for _, d := range tensor.Shape {
					size *= d
				}
				if size != len(tensor.Float32) {
					t.Fatalf("input %q: shape %v holds %d values, want %d", name, tensor.Shape, len(tensor.Float32), size)
				}
			}
		}
	})
}

func FuzzTFServingPath(f *testing.F) {
	for _, p := range []string{"gan", "gan:predict", "gan/versions/2", "gan/versions/2/metadata", "gan/versions/-1:predict", "gan/versions/99999999999999999999", "../etc/passwd", "gan/versions/", "/", ""} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		p, err := parseTFPath(rest)
		if err != nil {
			wantClientError(t, err)
			return
		}
		if p.name == "" || strings.Contains(p.name, "/") || p.version < 0 {
			t.Fatalf("parsed %q into %+v", rest, p)
		}
		switch p.verb {
		case "", "metadata", "predict":
		default:
			t.Fatalf("parsed %q into verb %q", rest, p.verb)
		}
	})
}

func newContext(body string) echo.Context {
	req := httptest.NewRequest("POST", "/", strings.NewReader(body))
	return echo.New().NewContext(req, httptest.NewRecorder())
}

func wantClientError(t *testing.T, err error) {
	t.Helper()
	var he *echo.HTTPError
	if asHTTPError(err, &he) && he.Code < 500 {
		return
	}
	if code := gan.ErrorCode(err); code != gan.EINVALID && code != gan.ENOTFOUND {
		t.Fatalf("error %v has code %q, want a client error", err, code)
	}
	if gan.ErrorMessage(err) == "" {
		t.Fatalf("empty error message for %v", err)
	}
}

func asHTTPError(err error, target **echo.HTTPError) bool { return errors.As(err, target) }
