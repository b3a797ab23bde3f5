package ganhttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ganhost/ganhost/go/gan"
	"github.com/ganhost/ganhost/go/internal/fuzzguard"
	"github.com/ganhost/ganhost/go/tfmodel"
)

// These fuzz targets cover what a client controls: query parameters, JSON bodies, TF Serving
// paths and predict tensors. For every input:
//   - nothing panics (a panic fails the target; through the server it would be a 500);
//   - parsing allocates at most a bound linear in the input (wantBoundedAlloc), so no count or
//     shape read from the input sizes an allocation;
//   - every rejection is a client error (EINVALID/ENOTFOUND, or a 4xx), never an internal one;
//   - sent through the real echo instance (routing, middleware, error handler), the answer is
//     never a 5xx, and what reaches the service is in range (generate, train) or, for versions,
//     resolves inside the model base path.
//   - no input runs for longer than hangAfter (watchdog): the fuzzing engine itself does not
//     notice a hung worker, it stops counting executions and still passes at -fuzztime.
// The seed corpora are committed under testdata/fuzz/<target>/; plain `go test` runs them.

func FuzzGenerateQuery(f *testing.F) {
	for _, q := range []string{"", "n=16", "n=0&seed=-1", "n=abc", "scale=9&format=gif", "digit=3&n=256", "n=1&n=2", "seed=99999999999999999999", "%zz", "n=%00"} {
		f.Add(q)
	}
	s := &server{cfg: Config{MaxN: gan.DefaultMaxN}}
	svc := &recordingService{}
	e := newFuzzServer(svc)
	f.Fuzz(func(t *testing.T, raw string) {
		defer watchdog(raw)()
		if q, err := url.ParseQuery(raw); err == nil { // else net/http answers 400 before a handler runs
			var req gan.GenerateRequest
			wantBoundedAlloc(t, len(raw), func() {
				if req, err = s.parseGenerate(q); err == nil {
					err = req.Validate(s.cfg.MaxN)
				}
			})
			if err != nil {
				wantClientError(t, err)
			} else if req.N < 1 || req.N > gan.DefaultMaxN || req.Scale < 1 || req.Scale > gan.MaxScale {
				t.Fatalf("accepted out-of-range request %+v from %q", req, raw)
			}
		}
		// Through the server: only an in-range request may reach the model (n and scale bound
		// the images generated and the grid's memory).
		svc.reset()
		rec, _ := serve(t, e, http.MethodGet, "/generate?"+raw, "")
		if g := svc.generate; g != nil {
			if err := g.Validate(gan.DefaultMaxN); err != nil {
				t.Fatalf("GET /generate?%s passed an invalid request to the service: %v", raw, err)
			}
		} else if rec != nil && rec.Code < 300 {
			t.Fatalf("GET /generate?%s answered %d without generating", raw, rec.Code)
		}
	})
}

func FuzzTrainBody(f *testing.F) {
	for _, b := range []string{"", "{}", `{"steps":5}`, `{"steps":"5"}`, `{"step":1}`, `[1]`, `{} {}`, `{"steps":1e99}`, `{"batch_size":-1,"seed":null}`, "\x00"} {
		f.Add(b)
	}
	svc := &recordingService{}
	e := newFuzzServer(svc)
	f.Fuzz(func(t *testing.T, body string) {
		defer watchdog(body)()
		var req trainRequest
		var err error
		c := newContext(body)
		wantBoundedAlloc(t, len(body), func() { err = bindJSON(c, &req) })
		if err != nil {
			wantClientError(t, err)
		}
		// Through the server: training runs only with steps and batch size in range (they bound
		// the work and the batch memory), and never for a body that does not bind.
		svc.reset()
		serve(t, e, http.MethodPost, "/train/step", body)
		if tr := svc.train; tr != nil {
			if err != nil {
				t.Fatalf("POST /train/step ran training for a body that does not bind (%v): %q", err, body)
			}
			if verr := tr.Validate(); verr != nil {
				t.Fatalf("POST /train/step passed an invalid request to the service: %v; body %q", verr, body)
			}
		}
	})
}

func FuzzPredictBody(f *testing.F) {
	for _, b := range []string{`{"instances":[[1,2]]}`, `{"inputs":{"z":[[1]],"labels":[3]}}`, `{"instances":[{"z":[1],"labels":2}]}`, `{"inputs":[[[[1]]]]}`, `{"instances":[]}`, `{"inputs":[["a"]]}`, `{"inputs":[[1],[2,3]]}`, `{"instances":[[1e40]]}`} {
		f.Add(b)
	}
	// A ragged body whose first lists declare 128^4 = 2^28 values in about 1 KB: the shape must
	// not size an allocation (toTensor once preallocated 1 GiB for it).
	ragged := "[" + strings.Repeat("0,", 127) + "0]"
	for range 3 {
		ragged = "[" + ragged + strings.Repeat(",0", 127) + "]"
	}
	f.Add(`{"inputs":` + ragged + `}`)
	f.Add(`{"instances":` + ragged + `}`)
	sig := gan.SignatureSpec{Inputs: map[string]gan.TensorSpec{"z": {}}}
	cond := gan.SignatureSpec{Inputs: map[string]gan.TensorSpec{"z": {}, "labels": {}}}
	f.Fuzz(func(t *testing.T, body string) {
		defer watchdog(body)()
		var req predictRequest
		var err error
		c := newContext(body)
		wantBoundedAlloc(t, len(body), func() { err = bindJSON(c, &req) })
		if err != nil {
			wantClientError(t, err)
			return
		}
		for _, spec := range []gan.SignatureSpec{sig, cond} {
			var inputs map[string]gan.Tensor
			var err error
			wantBoundedAlloc(t, len(body), func() {
				switch {
				case req.Instances != nil:
					inputs, err = parseInstances(req.Instances, spec)
				case req.Inputs != nil:
					inputs, err = parseColumnar(req.Inputs, spec)
				}
			})
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
	for _, p := range []string{"gan", "gan:predict", "gan/versions/2", "gan/versions/2/metadata", "gan/versions/-1:predict", "gan/versions/99999999999999999999", "../etc/passwd", "gan/versions/", "/", "", "gan/versions/1", "gan/versions/1:predict", "gan/versions/..%2f..%2f1:predict", "gan/versions/%2e%2e/metadata", "gan/versions/+1", "gan/versions/01"} {
		f.Add(p)
	}
	// The real service on the tiny fixture (version 1 only), read-only: versions are answered
	// by the code that serves them, so a bad one must come back 4xx from there too.
	base, err := filepath.Abs("../tfmodel/testdata/tiny")
	if err != nil {
		f.Fatal(err)
	}
	host, err := tfmodel.OpenHost(tfmodel.HostConfig{Name: "gan", Base: base, Replica: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatalf("OpenHost: %v", err)
	}
	f.Cleanup(func() { _ = host.Close() })
	svc := &versionRecorder{Service: host}
	e := newFuzzServer(svc)
	z := `{"instances":[[` + strings.TrimSuffix(strings.Repeat("0,", 100), ",") + `]]}` // one valid row
	f.Fuzz(func(t *testing.T, rest string) {
		defer watchdog(rest)()
		var p tfPath
		var err error
		wantBoundedAlloc(t, len(rest), func() { p, err = parseTFPath(rest) })
		if err != nil {
			wantClientError(t, err)
		} else {
			if p.name == "" || strings.Contains(p.name, "/") || p.version < 0 {
				t.Fatalf("parsed %q into %+v", rest, p)
			}
			switch p.verb {
			case "", "metadata", "predict":
			default:
				t.Fatalf("parsed %q into verb %q", rest, p.verb)
			}
			if p.version != 0 {
				wantInBase(t, base, p.version, rest)
			}
		}
		// Through the server, both methods: a bad or absent version is a 4xx, a version that
		// reaches Predict resolves inside the base path, and only the served model and version
		// (1, or none named) are ever answered 2xx.
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			svc.predicted = nil
			rec, req := serve(t, e, method, "/v1/models/"+rest, z)
			if v := svc.predicted; v != nil && *v != 0 {
				wantInBase(t, base, *v, rest)
			}
			if rec == nil || rec.Code >= 300 {
				continue
			}
			seen, perr := parseTFPath(strings.TrimPrefix(echo.GetPath(req), "/v1/models/"))
			if perr != nil || seen.name != "gan" || (seen.version != 0 && seen.version != 1) {
				t.Fatalf("%s /v1/models/%s answered %d for %+v (err %v); only gan, version 1 exists", method, rest, rec.Code, seen, perr)
			}
		}
	})
}

// wantInBase checks that version v resolves, through tfmodel.VersionDir (the one place that
// maps versions to directories), to a direct child of base named by v's decimal digits: no
// "..", separator, sign or absolute path can take it outside the model base path.
func wantInBase(t *testing.T, base string, v int64, input string) {
	t.Helper()
	dir := tfmodel.VersionDir(base, v)
	rel, err := filepath.Rel(base, dir)
	if v < 1 || err != nil || rel != strconv.FormatInt(v, 10) || filepath.Dir(dir) != filepath.Clean(base) {
		t.Fatalf("%q: version %d resolves to %s, outside %s or not its own directory", input, v, dir, base)
	}
}

// hangAfter is how long one input may run: parsing takes microseconds and the one model call
// (FuzzTFServingPath's :predict on the tiny fixture) milliseconds, even under -race.
const hangAfter = 5 * time.Second

// watchdog panics when the input runs for longer than hangAfter; call the function it returns
// when the input is done. The panic comes from a timer goroutine, so it takes the whole fuzz
// worker down, which the engine does report, with the input as a crasher in testdata/fuzz/.
func watchdog(input string) (stop func() bool) { return fuzzguard.Watchdog(hangAfter, input) }

// wantBoundedAlloc runs fn and fails when the process allocated more than 1 MiB plus 512 bytes
// per input byte meanwhile: linear in what the client sent, where a size read from the input (a
// count, a shape) typically costs orders of magnitude more. TotalAlloc is process-wide, but a
// fuzz worker runs one input at a time.
func wantBoundedAlloc(t *testing.T, inputLen int, fn func()) {
	t.Helper()
	fuzzguard.BoundedAlloc(t, 1<<20, 512, inputLen, fn)
}

// serve sends a request for target (a request-target as on the request line) through e and
// fails on a 5xx. It returns nils when net/http would refuse the target before any handler runs.
func serve(t *testing.T, e *echo.Echo, method, target, body string) (*httptest.ResponseRecorder, *http.Request) {
	t.Helper()
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, nil
	}
	req := httptest.NewRequest(method, "/", strings.NewReader(body))
	req.URL, req.RequestURI = u, target
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %q answered %d: %.300s", method, target, rec.Code, rec.Body.String())
	}
	return rec, req
}

func newFuzzServer(svc gan.Service) *echo.Echo {
	return New(Config{Service: svc, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
}

// recordingService stands in for the model where a target only needs what a handler passes
// on: it records Generate and Train requests and refuses them with a client error, so no model
// runs. A method it does not define panics (nil embedded interface): a 500 the target reports.
type recordingService struct {
	gan.Service
	generate *gan.GenerateRequest
	train    *gan.TrainRequest
}

var errRecorded = gan.Errorf(gan.ECONFLICT, "recorded by the fuzz target, not run")

func (r *recordingService) reset() { r.generate, r.train = nil, nil }

func (r *recordingService) Status() gan.ModelStatus {
	return gan.ModelStatus{Name: "gan", ServedVersion: 1, Versions: []int64{1}}
}

func (r *recordingService) Generate(_ context.Context, req gan.GenerateRequest) (gan.Images, error) {
	r.generate = &req
	return gan.Images{}, errRecorded
}

func (r *recordingService) Train(_ context.Context, req gan.TrainRequest) (gan.TrainResult, error) {
	r.train = &req
	return gan.TrainResult{}, errRecorded
}

// versionRecorder is the real service, recording the version each Predict asks for.
type versionRecorder struct {
	gan.Service
	predicted *int64
}

func (r *versionRecorder) Predict(ctx context.Context, req gan.PredictRequest) (map[string]gan.Tensor, int64, error) {
	r.predicted = &req.Version
	return r.Service.Predict(ctx, req)
}

// contextEcho makes the contexts of newContext; one instance, as echo.New costs more than
// the parsing the targets measure.
var contextEcho = echo.New()

func newContext(body string) echo.Context {
	req := httptest.NewRequest("POST", "/", strings.NewReader(body))
	return contextEcho.NewContext(req, httptest.NewRecorder())
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
