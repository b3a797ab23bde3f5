package ganhttp_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/ganhost/ganhost/go/gan"
	"github.com/ganhost/ganhost/go/tfmodel"
)

func TestGeneratePNGSizes(t *testing.T) {
	ts := MustServer(t)
	for _, tc := range []struct {
		query        string
		wantW, wantH int
	}{
		{"n=1", 28, 28},
		{"n=2", 56, 28},
		{"", 112, 112}, // default n=16
		{"n=16", 112, 112},
		{"n=17", 140, 112},
		{"n=256", 448, 448},
		{"n=16&scale=4", 448, 448},
	} {
		t.Run("ok, "+tc.query, func(t *testing.T) {
			rec := ts.do(http.MethodGet, "/generate?"+tc.query, "")
			wantStatus(t, rec, http.StatusOK)
			if ct := rec.Header().Get("Content-Type"); ct != "image/png" {
				t.Errorf("Content-Type=%q, want image/png", ct)
			}
			if rec.Header().Get("X-Seed") == "" || rec.Header().Get("X-Model-Version") != "1" {
				t.Errorf("headers X-Seed=%q X-Model-Version=%q", rec.Header().Get("X-Seed"), rec.Header().Get("X-Model-Version"))
			}
			cfg, err := png.DecodeConfig(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Width != tc.wantW || cfg.Height != tc.wantH {
				t.Errorf("size=%dx%d, want %dx%d", cfg.Width, cfg.Height, tc.wantW, tc.wantH)
			}
		})
	}
}

func TestGenerateDeterministicBySeed(t *testing.T) {
	ts := MustServer(t)
	for _, format := range []string{"png", "json"} {
		a := ts.do(http.MethodGet, "/generate?n=5&seed=42&format="+format, "")
		b := ts.do(http.MethodGet, "/generate?n=5&seed=42&format="+format, "")
		c := ts.do(http.MethodGet, "/generate?n=5&seed=43&format="+format, "")
		wantStatus(t, a, http.StatusOK)
		if !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
			t.Errorf("%s: same seed and version gave different bodies", format)
		}
		if bytes.Equal(a.Body.Bytes(), c.Body.Bytes()) {
			t.Errorf("%s: different seeds gave identical bodies", format)
		}
		if got := a.Header().Get("X-Seed"); got != "42" {
			t.Errorf("X-Seed=%q, want 42", got)
		}
	}
	// A random seed is reported, and replaying it reproduces the image.
	r := ts.do(http.MethodGet, "/generate?n=3", "")
	replay := ts.do(http.MethodGet, "/generate?n=3&seed="+r.Header().Get("X-Seed"), "")
	if !bytes.Equal(r.Body.Bytes(), replay.Body.Bytes()) {
		t.Error("replaying X-Seed did not reproduce the image")
	}
}

func TestGenerateJSON(t *testing.T) {
	ts := MustServer(t)
	rec := ts.do(http.MethodGet, "/generate?n=3&seed=7&format=json&scale=2", "")
	wantStatus(t, rec, http.StatusOK)
	body := decode[struct {
		ModelVersion int64    `json:"model_version"`
		Seed         int64    `json:"seed"`
		N            int      `json:"n"`
		Images       []string `json:"images"`
	}](t, rec)
	if body.ModelVersion != 1 || body.Seed != 7 || body.N != 3 || len(body.Images) != 3 {
		t.Fatalf("body=%+v, want version 1, seed 7, n 3 and 3 images", body)
	}
	raw, err := base64.StdEncoding.DecodeString(body.Images[0])
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(raw))
	if err != nil || cfg.Width != 56 || cfg.Height != 56 {
		t.Errorf("image 0: %v %dx%d, want a 56x56 PNG", err, cfg.Width, cfg.Height)
	}
}

func TestBadInputs(t *testing.T) {
	ts := MustServer(t)
	big := `{"steps": 1, "pad": "` + strings.Repeat("x", ganhttpDefaultMaxBody) + `"}`
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
		contains                   string
	}{
		{"nok, n=0", "GET", "/generate?n=0", "", 400, "n must be an integer in 1..256, got 0"},
		{"nok, n=-1", "GET", "/generate?n=-1", "", 400, "n must be an integer in 1..256"},
		{"nok, n=abc", "GET", "/generate?n=abc", "", 400, `n must be an integer in 1..256, got "abc"`},
		{"nok, n above max", "GET", "/generate?n=257", "", 400, "1..256, got 257"},
		{"nok, scale 0", "GET", "/generate?scale=0", "", 400, "scale must be an integer in 1..8"},
		{"nok, scale 9", "GET", "/generate?scale=9", "", 400, "scale must be an integer in 1..8"},
		{"nok, scale text", "GET", "/generate?scale=big", "", 400, "scale must be an integer"},
		{"nok, seed text", "GET", "/generate?seed=x", "", 400, "seed must be an integer"},
		{"nok, seed overflow", "GET", "/generate?seed=99999999999999999999", "", 400, "seed must be an integer"},
		{"nok, unknown format", "GET", "/generate?format=gif", "", 400, `format must be "png" or "json"`},
		{"nok, unknown parameter", "GET", "/generate?num=4", "", 400, `unknown query parameter "num"`},
		{"nok, repeated parameter", "GET", "/generate?n=1&n=2", "", 400, `"n" given 2 times`},
		{"nok, malformed JSON", "POST", "/train/step", `{"steps":`, 400, "truncated JSON"},
		{"nok, not JSON", "POST", "/train/step", `steps=5`, 400, "not valid JSON"},
		{"nok, JSON array", "POST", "/train/step", `[1]`, 400, "must be a JSON object"},
		{"nok, two objects", "POST", "/train/step", `{} {}`, 400, "single JSON object"},
		{"nok, wrong type", "POST", "/train/step", `{"steps":"5"}`, 400, `field "steps" must be an integer, got string`},
		{"nok, float steps", "POST", "/train/step", `{"steps":1.5}`, 400, `field "steps" must be an integer`},
		{"nok, unknown field", "POST", "/train/step", `{"step":5}`, 400, `unknown field "step"`},
		{"nok, query instead of body", "POST", "/train/step?steps=100", "", 400, `unknown query parameter "steps"`},
		{"nok, query on save", "POST", "/models/gan/versions?force=1", "", 400, `unknown query parameter "force"`},
		{"nok, query on predict", "POST", "/v1/models/gan:predict?x=1", `{"instances":[[0]]}`, 400, `unknown query parameter "x"`},
		{"nok, steps 0", "POST", "/train/step", `{"steps":0}`, 400, "steps must be an integer in 1..10000, got 0"},
		{"nok, steps too many", "POST", "/train/step", `{"steps":10001}`, 400, "1..10000"},
		{"nok, batch 0", "POST", "/train/step", `{"batch_size":0}`, 400, "batch_size must be an integer in 1..1024"},
		{"nok, batch above max", "POST", "/train/step", `{"batch_size":1025}`, 400, "batch_size must be an integer in 1..1024"},
		{"nok, batch above dataset", "POST", "/train/step", `{"batch_size":65}`, 400, "at most the dataset size 64"},
		{"nok, oversized body", "POST", "/train/step", big, 413, "exceeds the limit"},
		{"nok, unknown model", "GET", "/models/other", "", 404, `model "other" not found`},
		{"nok, save unknown model", "POST", "/models/other/versions", "", 404, `model "other" not found`},
		{"nok, save with fields", "POST", "/models/gan/versions", `{"version":3}`, 400, `unknown field "version"`},
		{"nok, bad version", "GET", "/v1/models/gan/versions/abc", "", 400, `version must be a positive integer, got "abc"`},
		{"nok, version 0", "GET", "/v1/models/gan/versions/0", "", 400, "version must be a positive integer"},
		{"nok, version missing", "GET", "/v1/models/gan/versions/9", "", 404, "version 9 of model gan not found"},
		{"nok, path escape", "GET", "/v1/models/..%2F..%2Fetc", "", 404, "not found"},
		{"nok, v1 unknown model", "GET", "/v1/models/other", "", 404, `model "other" not found`},
		{"nok, v1 bad path", "GET", "/v1/models/gan/foo/bar", "", 404, "no such endpoint"},
		{"nok, predict GET", "GET", "/v1/models/gan:predict", "", 405, "predict needs POST"},
		{"nok, predict no version", "POST", "/v1/models/gan/versions/7:predict", `{"instances":[[0]]}`, 404, "version 7 of model gan is not served"},
		{"nok, predict both formats", "POST", "/v1/models/gan:predict", `{"instances":[],"inputs":[]}`, 400, "exactly one of"},
		{"nok, predict neither", "POST", "/v1/models/gan:predict", `{}`, 400, "exactly one of"},
		{"nok, predict empty instances", "POST", "/v1/models/gan:predict", `{"instances":[]}`, 400, "non-empty JSON list"},
		{"nok, predict wrong shape", "POST", "/v1/models/gan:predict", `{"instances":[[1,2,3]]}`, 400, `input "z" of signature "generate" must have shape [N, 100]`},
		{"nok, predict ragged", "POST", "/v1/models/gan:predict", `{"inputs":[[1,2],[3]]}`, 400, "rectangular"},
		{"nok, predict strings", "POST", "/v1/models/gan:predict", `{"inputs":[["a"]]}`, 400, "values must be numbers"},
		{"nok, predict unknown input", "POST", "/v1/models/gan:predict", `{"inputs":{"x":[[1]]}}`, 400, `has no input "x"`},
		{"nok, predict unknown signature", "POST", "/v1/models/gan:predict", `{"signature_name":"nope","instances":[[1]]}`, 400, `signature_name "nope" does not exist`},
		{"nok, predict train_step", "POST", "/v1/models/gan:predict", `{"signature_name":"train_step","instances":[{"z":[1],"images":[1]}]}`, 400, "use POST /train/step"},
		{"nok, predict float32 overflow", "POST", "/v1/models/gan:predict", `{"instances":[[1e300]]}`, 400, "out of float32 range"},
		{"nok, unknown route", "GET", "/nope", "", 404, "Not Found"},
		{"nok, wrong method", "DELETE", "/generate", "", 405, "Method Not Allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := ts.do(tc.method, tc.target, tc.body)
			wantStatus(t, rec, tc.status)
			body := decode[errorJSON](t, rec)
			if !strings.Contains(body.Error, tc.contains) {
				t.Errorf("error=%q, want it to contain %q", body.Error, tc.contains)
			}
			if body.Code == "" {
				t.Error("error body has no code")
			}
		})
	}
}

const ganhttpDefaultMaxBody = 8 << 20

func TestTrainStep(t *testing.T) {
	ts := MustServer(t)
	before := ts.do(http.MethodGet, "/generate?n=2&seed=1", "")
	rec := ts.do(http.MethodPost, "/train/step", `{"steps": 3, "batch_size": 8, "seed": 5}`)
	wantStatus(t, rec, http.StatusOK)
	res := decode[map[string]any](t, rec)
	for _, key := range []string{"step", "steps_run", "d_loss", "g_loss", "d_loss_mean", "g_loss_mean", "duration_ms", "images_per_second", "model_version"} {
		if _, ok := res[key]; !ok {
			t.Errorf("response lacks %q: %v", key, res)
		}
	}
	if res["steps_run"] != 3.0 || res["step"] != 3.0 || res["model_version"] != 1.0 || res["unsaved_steps"] != 3.0 {
		t.Errorf("response=%v, want steps_run 3, step 3, model_version 1, unsaved_steps 3", res)
	}
	// Training changes the training state, not the served version: same seed, same image.
	if after := ts.do(http.MethodGet, "/generate?n=2&seed=1", ""); !bytes.Equal(before.Body.Bytes(), after.Body.Bytes()) {
		t.Error("the served version changed before a save")
	}
	// An empty body means one step with the defaults.
	rec = ts.do(http.MethodPost, "/train/step", "")
	wantStatus(t, rec, http.StatusOK)
	if res := decode[map[string]any](t, rec); res["steps_run"] != 1.0 || res["batch_size"] != 64.0 {
		t.Errorf("defaults: %v, want steps_run 1 and batch_size 64", res)
	}
}

func TestSaveVersionServesIt(t *testing.T) {
	ts := MustServer(t)
	before := ts.do(http.MethodGet, "/generate?n=2&seed=1", "")
	wantStatus(t, ts.do(http.MethodPost, "/train/step", `{"steps": 5, "batch_size": 8, "seed": 1}`), http.StatusOK)

	rec := ts.do(http.MethodPost, "/models/gan/versions", "")
	wantStatus(t, rec, http.StatusCreated)
	saved := decode[map[string]any](t, rec)
	if saved["version"] != 2.0 || saved["step"] != 5.0 {
		t.Errorf("save=%v, want version 2 at step 5", saved)
	}
	after := ts.do(http.MethodGet, "/generate?n=2&seed=1", "")
	if after.Header().Get("X-Model-Version") != "2" || bytes.Equal(before.Body.Bytes(), after.Body.Bytes()) {
		t.Errorf("after save: version %q, image changed=%v; want version 2 and a new image",
			after.Header().Get("X-Model-Version"), !bytes.Equal(before.Body.Bytes(), after.Body.Bytes()))
	}
	st := decode[map[string]any](t, ts.do(http.MethodGet, "/models/gan", ""))
	if st["served_version"] != 2.0 || st["unsaved_steps"] != 0.0 || len(st["versions"].([]any)) != 2 {
		t.Errorf("status=%v, want served_version 2, unsaved_steps 0, two versions", st)
	}
	// The TF Serving view agrees.
	v1 := decode[map[string][]map[string]any](t, ts.do(http.MethodGet, "/v1/models/gan", ""))["model_version_status"]
	if len(v1) != 2 || v1[0]["version"] != "2" || v1[0]["state"] != "AVAILABLE" || v1[1]["state"] != "END" {
		t.Errorf("model_version_status=%v", v1)
	}
	one := decode[map[string][]map[string]any](t, ts.do(http.MethodGet, "/v1/models/gan/versions/1", ""))["model_version_status"]
	if len(one) != 1 || one[0]["version"] != "1" {
		t.Errorf("versions/1 status=%v", one)
	}
}

func TestAuth(t *testing.T) {
	ts := MustServer(t, func(o *serverOptions) { o.http.Token = "s3cret" })
	for _, tc := range []struct {
		name, method, target, auth string
		status                     int
	}{
		{"nok, train without token", "POST", "/train/step", "", 401},
		{"nok, train wrong token", "POST", "/train/step", "Bearer nope", 401},
		{"nok, train token prefix", "POST", "/train/step", "Bearer s3cre", 401},
		{"nok, basic scheme", "POST", "/train/step", "Basic s3cret", 401},
		{"nok, save without token", "POST", "/models/gan/versions", "", 401},
		{"ok, train with token", "POST", "/train/step", "Bearer s3cret", 200},
		{"ok, lower-case scheme", "POST", "/train/step", "bearer s3cret", 200},
		{"ok, save with token", "POST", "/models/gan/versions", "Bearer s3cret", 201},
		{"ok, generate is public", "GET", "/generate?n=1", "", 200},
		{"ok, status is public", "GET", "/models/gan", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec = ts.do(tc.method, tc.target, "", "Authorization", tc.auth)
			wantStatus(t, rec, tc.status)
			if tc.status == 401 {
				if body := decode[errorJSON](t, rec); body.Code != "unauthorized" || !strings.Contains(body.Error, "Authorization: Bearer") {
					t.Errorf("401 body=%+v", body)
				}
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
		})
	}
	if strings.Contains(ts.logs.String(), "s3cret") {
		t.Error("the token appears in the logs")
	}
}

func TestPredictMatchesSignature(t *testing.T) {
	ts := MustServer(t)
	z := gan.Noise(3, 2)
	model, err := tfmodel.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	want, err := model.Generate(z, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	rows := jsonRows(z, 2, 100)
	for _, tc := range []struct{ name, body, key string }{
		{"ok, row format", `{"instances":` + rows + `}`, "predictions"},
		{"ok, row format named", `{"signature_name":"generate","instances":[{"z":` + jsonRows(z[:100], 1, 100)[1:len(jsonRows(z[:100], 1, 100))-1] + `},{"z":` + jsonRows(z[100:], 1, 100)[1:len(jsonRows(z[100:], 1, 100))-1] + `}]}`, "predictions"},
		{"ok, columnar format", `{"signature_name":"serving_default","inputs":` + rows + `}`, "outputs"},
		{"ok, columnar named", `{"inputs":{"z":` + rows + `}}`, "outputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range []string{"/v1/models/gan:predict", "/v1/models/gan/versions/1:predict"} {
				rec := ts.do(http.MethodPost, target, tc.body)
				wantStatus(t, rec, http.StatusOK)
				got := decode[map[string][][][][]float32](t, rec)[tc.key]
				if len(got) != 2 {
					t.Fatalf("%s: %d images, want 2", target, len(got))
				}
				for i := range 2 {
					for y := range 28 {
						for x := range 28 {
							if g, w := got[i][y][x][0], want[i*784+y*28+x]; g != w {
								t.Fatalf("%s: image %d pixel (%d,%d)=%v, want %v (the generate signature's value)", target, i, y, x, g, w)
							}
						}
					}
				}
			}
		})
	}
	// discriminate: one logit per image, same as the signature.
	images := make([]float32, 784)
	rec := ts.do(http.MethodPost, "/v1/models/gan:predict", `{"signature_name":"discriminate","inputs":`+nested28(images)+`}`)
	wantStatus(t, rec, http.StatusOK)
	logits := decode[map[string][][]float32](t, rec)["outputs"]
	wantLogits, _ := model.Discriminate(images, 1)
	if len(logits) != 1 || logits[0][0] != wantLogits[0] {
		t.Errorf("logits=%v, want [[%v]]", logits, wantLogits[0])
	}
}

func TestMetadata(t *testing.T) {
	ts := MustServer(t)
	rec := ts.do(http.MethodGet, "/v1/models/gan/metadata", "")
	wantStatus(t, rec, http.StatusOK)
	md := decode[struct {
		ModelSpec struct{ Name, Version string } `json:"model_spec"`
		Metadata  struct {
			SignatureDef struct {
				SignatureDef map[string]struct {
					Inputs map[string]struct {
						DType       string `json:"dtype"`
						TensorShape struct {
							Dim []struct{ Size string } `json:"dim"`
						} `json:"tensor_shape"`
					} `json:"inputs"`
				} `json:"signature_def"`
			} `json:"signature_def"`
		} `json:"metadata"`
	}](t, rec)
	if md.ModelSpec.Name != "gan" || md.ModelSpec.Version != "1" {
		t.Errorf("model_spec=%+v", md.ModelSpec)
	}
	sigs := md.Metadata.SignatureDef.SignatureDef
	for _, name := range []string{"serving_default", "generate", "train_step", "discriminate"} {
		if _, ok := sigs[name]; !ok {
			t.Errorf("metadata lacks signature %q", name)
		}
	}
	z := sigs["generate"].Inputs["z"]
	if z.DType != "DT_FLOAT" || len(z.TensorShape.Dim) != 2 || z.TensorShape.Dim[0].Size != "-1" || z.TensorShape.Dim[1].Size != "100" {
		t.Errorf("generate z=%+v, want DT_FLOAT [-1, 100]", z)
	}
	wantStatus(t, ts.do(http.MethodGet, "/v1/models/gan/versions/1/metadata", ""), http.StatusOK)
	wantStatus(t, ts.do(http.MethodGet, "/v1/models/gan/versions/3/metadata", ""), http.StatusNotFound)
}

func TestHealthReadyMetrics(t *testing.T) {
	ts := MustServer(t)
	wantStatus(t, ts.do(http.MethodGet, "/healthz", ""), http.StatusOK)
	ready := ts.do(http.MethodGet, "/readyz", "")
	wantStatus(t, ready, http.StatusOK)
	if r := decode[map[string]any](t, ready); r["version"] != 1.0 {
		t.Errorf("readyz=%v", r)
	}
	ts.do(http.MethodGet, "/generate?n=3", "")
	ts.do(http.MethodGet, "/generate?n=0", "")
	ts.do(http.MethodPost, "/train/step", `{"steps":2,"batch_size":4}`)
	rec := ts.do(http.MethodGet, "/metrics", "")
	wantStatus(t, rec, http.StatusOK)
	text := rec.Body.String()
	for _, want := range []string{
		`ganhost_http_requests_total{method="GET",route="/generate",status="200"} 1`,
		`ganhost_http_requests_total{method="GET",route="/generate",status="400"} 1`,
		`ganhost_http_request_duration_seconds_bucket{method="GET",route="/generate",status="200",le="+Inf"} 1`,
		"ganhost_generated_images_total 3",
		"ganhost_train_steps_total 2",
		"ganhost_last_d_loss ",
		"ganhost_last_g_loss ",
		"ganhost_served_model_version 1",
		"ganhost_unsaved_steps 2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestRequestIDInLogs(t *testing.T) {
	ts := MustServer(t)
	rec := ts.do(http.MethodGet, "/generate?n=1", "")
	id := rec.Header().Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id")
	}
	if !strings.Contains(ts.logs.String(), `"request_id":"`+id+`"`) {
		t.Errorf("logs lack request_id %s:\n%s", id, ts.logs.String())
	}
	// Lines the service logs while handling a request carry its id too.
	save := ts.do(http.MethodPost, "/models/gan/versions", "")
	wantStatus(t, save, http.StatusCreated)
	saveID := save.Header().Get("X-Request-Id")
	var found bool
	for _, line := range strings.Split(ts.logs.String(), "\n") {
		if strings.Contains(line, "saved and serving new version") {
			found = strings.Contains(line, `"request_id":"`+saveID+`"`)
		}
	}
	if !found {
		t.Errorf("the service's save log line lacks request_id %s:\n%s", saveID, ts.logs.String())
	}
}

func TestTrainingUnavailableWithoutDataset(t *testing.T) {
	ts := MustServer(t, func(o *serverOptions) { o.host.Dataset = nil })
	rec := ts.do(http.MethodPost, "/train/step", "")
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if got := rec.Header().Get("Retry-After"); got != "" {
		t.Errorf("Retry-After=%q on a 503 that retrying cannot fix", got)
	}
	if body := decode[errorJSON](t, rec); body.Code != "unavailable" || !strings.Contains(body.Error, "-data") {
		t.Errorf("body=%+v", body)
	}
	st := decode[map[string]any](t, ts.do(http.MethodGet, "/models/gan", ""))
	if st["dataset"] != "" {
		t.Errorf("dataset=%v, want empty when training is unavailable", st["dataset"])
	}
}

func TestPanicBecomesJSON500(t *testing.T) {
	ts := MustServer(t)
	ts.e.GET("/boom", func(c echoContext) error { panic("kaboom") })
	rec := ts.do(http.MethodGet, "/boom", "")
	wantStatus(t, rec, http.StatusInternalServerError)
	body := decode[errorJSON](t, rec)
	if body.Error != "internal error" || body.Code != "internal" {
		t.Errorf("body=%+v, want the generic internal error (no panic details)", body)
	}
	if !strings.Contains(ts.logs.String(), "kaboom") {
		t.Error("the panic is not logged")
	}
}

func TestConcurrentTrainingConflictsAndGenerationContinues(t *testing.T) {
	ts := MustServer(t)
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		close(started)
		ts.do(http.MethodPost, "/train/step", `{"steps": 400, "batch_size": 8}`)
	}()
	<-started
	var conflict *errorJSON
	for range 200 {
		if st := decode[map[string]any](t, ts.do(http.MethodGet, "/models/gan", "")); st["training"] != nil {
			rec := ts.do(http.MethodPost, "/train/step", `{"steps":1}`)
			if rec.Code == http.StatusConflict {
				b := decode[errorJSON](t, rec)
				conflict = &b
			}
			save := ts.do(http.MethodPost, "/models/gan/versions", "")
			if save.Code != http.StatusConflict && conflict != nil {
				t.Errorf("save during training: status=%d, want 409", save.Code)
			}
			// Generation keeps being served while training runs.
			wantStatus(t, ts.do(http.MethodGet, "/generate?n=4", ""), http.StatusOK)
			break
		}
	}
	wg.Wait()
	if conflict == nil {
		t.Fatal("never saw a 409 during a 400-step run")
	}
	if conflict.Code != "conflict" || conflict.Progress["steps"] != 400.0 {
		t.Errorf("409 body=%+v, want code conflict and the running job's progress", conflict)
	}
}

// jsonRows writes n rows of width values as a JSON list of lists.
func jsonRows(v []float32, n, width int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("[")
		for j := range width {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprint(&b, v[i*width+j])
		}
		b.WriteString("]")
	}
	b.WriteString("]")
	return b.String()
}

// nested28 writes one image as [[[[v],...]]] (shape [1,28,28,1]).
func nested28(v []float32) string {
	var b strings.Builder
	b.WriteString("[[")
	for y := range 28 {
		if y > 0 {
			b.WriteString(",")
		}
		b.WriteString("[")
		for x := range 28 {
			if x > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "[%v]", v[y*28+x])
		}
		b.WriteString("]")
	}
	b.WriteString("]]")
	return b.String()
}

type echoContext = echo.Context

func TestConditionalModel(t *testing.T) {
	ts := MustServer(t, conditional)
	st := decode[map[string]any](t, ts.do(http.MethodGet, "/models/gan", ""))
	if st["kind"] != "conditional" {
		t.Errorf("kind=%v, want conditional", st["kind"])
	}
	threes := ts.do(http.MethodGet, "/generate?n=4&seed=1&digit=3", "")
	wantStatus(t, threes, http.StatusOK)
	sevens := ts.do(http.MethodGet, "/generate?n=4&seed=1&digit=7", "")
	any1 := ts.do(http.MethodGet, "/generate?n=4&seed=1", "")
	any2 := ts.do(http.MethodGet, "/generate?n=4&seed=1", "")
	if bytes.Equal(threes.Body.Bytes(), sevens.Body.Bytes()) {
		t.Error("digit=3 and digit=7 gave identical images")
	}
	if !bytes.Equal(any1.Body.Bytes(), any2.Body.Bytes()) {
		t.Error("without a digit, the same seed gave different images")
	}
	for _, tc := range []struct{ query, contains string }{
		{"digit=10", "digit must be an integer in 0..9, got 10"},
		{"digit=-1", "digit must be an integer in 0..9, got -1"},
		{"digit=x", `digit must be an integer in 0..9, got "x"`},
	} {
		rec := ts.do(http.MethodGet, "/generate?"+tc.query, "")
		wantStatus(t, rec, http.StatusBadRequest)
		if body := decode[errorJSON](t, rec); !strings.Contains(body.Error, tc.contains) {
			t.Errorf("%s: error=%q, want %q", tc.query, body.Error, tc.contains)
		}
	}
	// Training samples labelled batches from the dataset; no digit in the body is needed.
	wantStatus(t, ts.do(http.MethodPost, "/train/step", `{"steps":2,"batch_size":8}`), http.StatusOK)

	// :predict takes labels as a second input of generate, in both formats.
	z := jsonRows(gan.Noise(2, 2), 2, 100)
	for _, body := range []string{
		`{"inputs":{"z":` + z + `,"labels":[3,7]}}`,
		`{"instances":[{"z":` + jsonRows(gan.Noise(2, 1), 1, 100)[1:len(jsonRows(gan.Noise(2, 1), 1, 100))-1] + `,"labels":3}]}`,
	} {
		wantStatus(t, ts.do(http.MethodPost, "/v1/models/gan:predict", body), http.StatusOK)
	}
	for _, tc := range []struct{ body, contains string }{
		{`{"inputs":{"z":` + z + `}}`, `needs input "labels"`},
		{`{"inputs":{"z":` + z + `,"labels":[3]}}`, `must have shape [2]`},
		{`{"inputs":{"z":` + z + `,"labels":[3,12]}}`, "integers in 0..9"},
		{`{"instances":` + z + `}`, "must name them in objects"},
	} {
		rec := ts.do(http.MethodPost, "/v1/models/gan:predict", tc.body)
		wantStatus(t, rec, http.StatusBadRequest)
		if b := decode[errorJSON](t, rec); !strings.Contains(b.Error, tc.contains) {
			t.Errorf("error=%q, want %q", b.Error, tc.contains)
		}
	}
}

func TestDigitNeedsConditionalModel(t *testing.T) {
	ts := MustServer(t)
	if st := decode[map[string]any](t, ts.do(http.MethodGet, "/models/gan", "")); st["kind"] != "unconditional" {
		t.Errorf("kind=%v, want unconditional", st["kind"])
	}
	rec := ts.do(http.MethodGet, "/generate?digit=3", "")
	wantStatus(t, rec, http.StatusBadRequest)
	if body := decode[errorJSON](t, rec); !strings.Contains(body.Error, "digit needs a conditional model") {
		t.Errorf("error=%q", body.Error)
	}
}

func TestTrainHistory(t *testing.T) {
	ts := MustServer(t)
	if h := decode[map[string][]map[string]any](t, ts.do(http.MethodGet, "/train/history", ""))["steps"]; len(h) != 0 {
		t.Fatalf("history before training=%v, want empty", h)
	}
	wantStatus(t, ts.do(http.MethodPost, "/train/step", `{"steps":5,"batch_size":4}`), http.StatusOK)
	all := decode[map[string][]map[string]any](t, ts.do(http.MethodGet, "/train/history", ""))["steps"]
	if len(all) != 5 || all[0]["step"] != 1.0 || all[4]["step"] != 5.0 {
		t.Fatalf("history=%v, want steps 1..5", all)
	}
	newer := decode[map[string][]map[string]any](t, ts.do(http.MethodGet, "/train/history?since=3&limit=1", ""))["steps"]
	if len(newer) != 1 || newer[0]["step"] != 4.0 {
		t.Errorf("since=3&limit=1 gave %v, want step 4", newer)
	}
	for _, q := range []string{"since=-1", "since=x", "limit=0", "limit=10001", "foo=1"} {
		wantStatus(t, ts.do(http.MethodGet, "/train/history?"+q, ""), http.StatusBadRequest)
	}
}

func TestReadyzReportsBadVersions(t *testing.T) {
	ts := MustServer(t, func(o *serverOptions) {
		// A complete-looking version 2 whose graph is garbage: version 1 is served instead.
		broken := filepath.Join(o.host.Base, "2")
		os.MkdirAll(filepath.Join(broken, "variables"), 0o755)
		os.WriteFile(filepath.Join(broken, "saved_model.pb"), []byte("garbage"), 0o644)
		os.WriteFile(filepath.Join(broken, "variables", "variables.index"), nil, 0o644)
	})
	rec := ts.do(http.MethodGet, "/readyz", "")
	wantStatus(t, rec, http.StatusOK)
	body := decode[struct {
		Version     int64             `json:"version"`
		BadVersions map[string]string `json:"bad_versions"`
	}](t, rec)
	if body.Version != 1 || !strings.Contains(body.BadVersions["2"], "not a SavedModel") {
		t.Errorf("readyz=%+v, want version 1 served and version 2 reported", body)
	}
	if !strings.Contains(ts.do(http.MethodGet, "/metrics", "").Body.String(), "ganhost_bad_versions 1") {
		t.Error("metrics lack ganhost_bad_versions 1")
	}
	if !strings.Contains(ts.logs.String(), "model version does not load") {
		t.Error("the bad version is not logged")
	}
}
