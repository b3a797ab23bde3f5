package ganhttp_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ganhost/ganhost/go/dataset"
	ganhttp "github.com/ganhost/ganhost/go/http"
	"github.com/ganhost/ganhost/go/tfmodel"
)

// fixture is the tiny SavedModel exported by `make fixture` (a real export with the full
// signature contract).
const fixture = "../tfmodel/testdata/tiny/1"

// testServer is the real echo instance over a real tfmodel.Host on a copy of the fixture.
type testServer struct {
	e    *echo.Echo
	host *tfmodel.Host
	base string
	logs *bytes.Buffer
}

type serverOptions struct {
	http    ganhttp.Config
	host    tfmodel.HostConfig
	fixture string // SavedModel to serve as version 1; default the unconditional fixture
}

// conditional serves the tiny conditional fixture (labels input on generate and train_step).
func conditional(o *serverOptions) { o.fixture = "../tfmodel/testdata/tiny_cond/1" }

// MustServer starts a server on a fresh copy of the fixture with a small synthetic dataset.
func MustServer(tb testing.TB, opts ...func(*serverOptions)) *testServer {
	tb.Helper()
	base := filepath.Join(tb.TempDir(), "gan")
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(lockedWriter{logs}, nil))
	o := serverOptions{
		fixture: fixture,
		host:    tfmodel.HostConfig{Name: "gan", Base: base, Dataset: MustDataset(tb, 64), DatasetName: "synthetic", Logger: logger},
		http:    ganhttp.Config{Logger: logger, Registry: prometheus.NewRegistry()},
	}
	for _, opt := range opts {
		opt(&o)
	}
	if err := os.CopyFS(filepath.Join(base, "1"), os.DirFS(o.fixture)); err != nil {
		tb.Fatal(err)
	}
	host, err := tfmodel.OpenHost(o.host)
	if err != nil {
		tb.Fatalf("OpenHost: %v", err)
	}
	tb.Cleanup(func() { _ = host.Close() })
	o.http.Service = host
	if o.http.MaxN == 0 {
		o.http.MaxN = o.host.MaxN
	}
	return &testServer{e: ganhttp.New(o.http), host: host, base: base, logs: logs}
}

// lockedWriter lets concurrent requests log into one buffer in tests.
type lockedWriter struct{ buf *bytes.Buffer }

var logMu = make(chan struct{}, 1)

func (w lockedWriter) Write(p []byte) (int, error) {
	logMu <- struct{}{}
	defer func() { <-logMu }()
	return w.buf.Write(p)
}

// MustDataset writes n random 28x28 images with labels as gzipped IDX files and loads them.
func MustDataset(tb testing.TB, n int) *dataset.Dataset {
	tb.Helper()
	dir := tb.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	images := make([]byte, n*28*28)
	for i := range images {
		images[i] = byte(rng.IntN(256))
	}
	labels := make([]byte, n)
	for i := range labels {
		labels[i] = byte(i % 10)
	}
	writeIDX(tb, filepath.Join(dir, "train-images-idx3-ubyte.gz"), 0x803, []uint32{uint32(n), 28, 28}, images)
	writeIDX(tb, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), 0x801, []uint32{uint32(n)}, labels)
	ds, err := dataset.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return ds
}

func writeIDX(tb testing.TB, path string, magic uint32, dims []uint32, data []byte) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_ = binary.Write(zw, binary.BigEndian, magic)
	for _, d := range dims {
		_ = binary.Write(zw, binary.BigEndian, d)
	}
	_, _ = zw.Write(data)
	_ = zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// do sends a request through the echo instance (routing, middleware and the error handler).
func (ts *testServer) do(method, target, body string, header ...string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = bytes.NewBufferString(body)
	}
	req := httptest.NewRequest(method, target, r)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	ts.e.ServeHTTP(rec, req)
	return rec
}

// decode unmarshals a JSON response body, failing the test when it is not JSON.
func decode[T any](tb testing.TB, rec *httptest.ResponseRecorder) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		tb.Fatalf("response is not the expected JSON (%v): %s", err, rec.Body.String())
	}
	return v
}

type errorJSON struct {
	Error    string         `json:"error"`
	Code     string         `json:"code"`
	Progress map[string]any `json:"progress"`
}

func wantStatus(tb testing.TB, rec *httptest.ResponseRecorder, want int) {
	tb.Helper()
	if rec.Code != want {
		tb.Fatalf("status=%d, want %d; body: %.300s", rec.Code, want, rec.Body.String())
	}
}

var _ = http.MethodGet
