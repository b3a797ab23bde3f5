package ganhttp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specPath is the OpenAPI document of this package's server.
const specPath = "../../api/openapi.yaml"

func init() {
	// /generate answers image/png; kin-openapi decodes only the common types by itself.
	openapi3filter.RegisterBodyDecoder("image/png", openapi3filter.FileBodyDecoder)
	// The browser page and its assets (web.go) are text.
	for _, t := range []string{"text/html", "text/javascript", "text/css"} {
		openapi3filter.RegisterBodyDecoder(t, openapi3filter.PlainBodyDecoder)
	}
}

// mustSpec loads and validates the OpenAPI document.
func mustSpec(tb testing.TB) *openapi3.T {
	tb.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath)
	if err != nil {
		tb.Fatalf("load %s: %v", specPath, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		tb.Fatalf("validate %s: %v", specPath, err)
	}
	return doc
}

func TestOpenAPISpecIsValid(t *testing.T) {
	mustSpec(t)
}

// TestResponsesMatchOpenAPI sends real requests and checks both the request and the response
// against the document. specRejects says whether the document itself forbids the request (a
// bad request the document cannot express, such as an unknown query parameter, passes it and
// must then get a documented error response).
func TestResponsesMatchOpenAPI(t *testing.T) {
	doc := mustSpec(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	// Request pieces: a noise vector for z [N,100], an image for the discriminator [N,28,28,1].
	zRow := func(v float64) string {
		return "[" + strings.TrimSuffix(strings.Repeat(fmt.Sprint(v)+",", 100), ",") + "]"
	}
	imageRow := func(v float64) string {
		px := "[" + fmt.Sprint(v) + "]"
		row := "[" + strings.TrimSuffix(strings.Repeat(px+",", 28), ",") + "]"
		return "[" + strings.TrimSuffix(strings.Repeat(row+",", 28), ",") + "]"
	}
	asJSON := []string{"Content-Type", "application/json"}
	withToken := []func(*serverOptions){func(o *serverOptions) { o.http.Token = "secret" }}
	withoutDataset := []func(*serverOptions){func(o *serverOptions) { o.host.Dataset = nil }}
	withTinyBodyLimit := []func(*serverOptions){func(o *serverOptions) { o.http.MaxBodyBytes = 64 }}

	tests := []struct {
		name        string
		opts        []func(*serverOptions)
		method      string
		target      string
		body        string
		header      []string
		wantStatus  int
		specRejects bool
	}{
		{name: "ok, healthz", method: "GET", target: "/healthz", wantStatus: 200},
		{name: "ok, page", method: "GET", target: "/", wantStatus: 200},
		{name: "ok, page script", method: "GET", target: "/web/app.js", wantStatus: 200},
		{name: "ok, page style", method: "GET", target: "/web/style.css", wantStatus: 200},
		{name: "ok, readyz", method: "GET", target: "/readyz", wantStatus: 200},
		{name: "ok, metrics", method: "GET", target: "/metrics", wantStatus: 200},
		{name: "ok, generate with defaults", method: "GET", target: "/generate", wantStatus: 200},
		{name: "ok, generate png", method: "GET", target: "/generate?n=3&seed=-7&format=png&scale=8", wantStatus: 200},
		{name: "ok, generate json", method: "GET", target: "/generate?n=4&seed=42&format=json&scale=2", wantStatus: 200},
		{name: "ok, generate digit (conditional)", opts: []func(*serverOptions){conditional}, method: "GET", target: "/generate?n=4&digit=3", wantStatus: 200},
		{name: "ok, model status (conditional)", opts: []func(*serverOptions){conditional}, method: "GET", target: "/models/gan", wantStatus: 200},
		{name: "ok, predict with labels (conditional)", opts: []func(*serverOptions){conditional}, method: "POST", target: "/v1/models/gan:predict", body: `{"inputs": {"z": [` + zRow(0.1) + `], "labels": [3]}}`, header: asJSON, wantStatus: 200},
		{name: "ok, train with defaults", method: "POST", target: "/train/step", wantStatus: 200},
		{name: "ok, train with body", method: "POST", target: "/train/step", body: `{"steps": 2, "batch_size": 8, "seed": 1}`, header: asJSON, wantStatus: 200},
		{name: "ok, train with null seed", method: "POST", target: "/train/step", body: `{"seed": null}`, header: asJSON, wantStatus: 200},
		{name: "ok, train with token", opts: withToken, method: "POST", target: "/train/step", body: `{}`, header: []string{"Content-Type", "application/json", "Authorization", "Bearer secret"}, wantStatus: 200},
		{name: "ok, train history", method: "GET", target: "/train/history?since=0&limit=5", wantStatus: 200},
		{name: "ok, model status", method: "GET", target: "/models/gan", wantStatus: 200},
		{name: "ok, save version", method: "POST", target: "/models/gan/versions", wantStatus: 201},
		{name: "ok, save version with empty object", opts: withToken, method: "POST", target: "/models/gan/versions", body: `{}`, header: []string{"Content-Type", "application/json", "Authorization", "Bearer secret"}, wantStatus: 201},
		{name: "ok, tf model status", method: "GET", target: "/v1/models/gan", wantStatus: 200},
		{name: "ok, tf version status", method: "GET", target: "/v1/models/gan/versions/1", wantStatus: 200},
		{name: "ok, tf metadata", method: "GET", target: "/v1/models/gan/metadata", wantStatus: 200},
		{name: "ok, tf version metadata", method: "GET", target: "/v1/models/gan/versions/1/metadata", wantStatus: 200},
		{name: "ok, predict instances", method: "POST", target: "/v1/models/gan:predict", body: `{"instances": [` + zRow(0.1) + `,` + zRow(-0.2) + `]}`, header: asJSON, wantStatus: 200},
		{name: "ok, predict named instances", method: "POST", target: "/v1/models/gan:predict", body: `{"signature_name": "generate", "instances": [{"z": ` + zRow(0.5) + `}]}`, header: asJSON, wantStatus: 200},
		{name: "ok, predict columnar", method: "POST", target: "/v1/models/gan/versions/1:predict", body: `{"inputs": [` + zRow(0.3) + `]}`, header: asJSON, wantStatus: 200},
		{name: "ok, predict named columnar", method: "POST", target: "/v1/models/gan/versions/1:predict", body: `{"signature_name": "discriminate", "inputs": {"images": [` + imageRow(0) + `]}}`, header: asJSON, wantStatus: 200},
		{name: "ok, discriminate instances", method: "POST", target: "/v1/models/gan:predict", body: `{"signature_name": "discriminate", "instances": [` + imageRow(0.5) + `]}`, header: asJSON, wantStatus: 200},

		{name: "nok, generate n=0", method: "GET", target: "/generate?n=0", wantStatus: 400, specRejects: true},
		{name: "nok, history limit 0", method: "GET", target: "/train/history?limit=0", wantStatus: 400, specRejects: true},
		{name: "nok, generate digit 10", opts: []func(*serverOptions){conditional}, method: "GET", target: "/generate?digit=10", wantStatus: 400, specRejects: true},
		{name: "nok, generate digit on unconditional", method: "GET", target: "/generate?digit=3", wantStatus: 400},
		{name: "nok, generate n above max", method: "GET", target: "/generate?n=257", wantStatus: 400, specRejects: true},
		{name: "nok, generate scale above max", method: "GET", target: "/generate?scale=9", wantStatus: 400, specRejects: true},
		{name: "nok, generate unknown format", method: "GET", target: "/generate?format=gif", wantStatus: 400, specRejects: true},
		{name: "nok, generate seed not an integer", method: "GET", target: "/generate?seed=x", wantStatus: 400, specRejects: true},
		{name: "nok, generate unknown query parameter", method: "GET", target: "/generate?num=64", wantStatus: 400},
		{name: "nok, train bad JSON", method: "POST", target: "/train/step", body: `{"steps":`, header: asJSON, wantStatus: 400, specRejects: true},
		{name: "nok, train unknown field", method: "POST", target: "/train/step", body: `{"stepz": 1}`, header: asJSON, wantStatus: 400, specRejects: true},
		{name: "nok, train steps=0", method: "POST", target: "/train/step", body: `{"steps": 0}`, header: asJSON, wantStatus: 400, specRejects: true},
		{name: "nok, train batch_size above max", method: "POST", target: "/train/step", body: `{"batch_size": 1025}`, header: asJSON, wantStatus: 400, specRejects: true},
		// The spec cannot reject a missing token: auth is optional ("security: [bearerAuth, {}]").
		{name: "nok, train without token", opts: withToken, method: "POST", target: "/train/step", wantStatus: 401},
		{name: "nok, train with wrong token", opts: withToken, method: "POST", target: "/train/step", header: []string{"Authorization", "Bearer nope"}, wantStatus: 401},
		{name: "nok, train without dataset", opts: withoutDataset, method: "POST", target: "/train/step", wantStatus: 503},
		{name: "nok, train body too large", opts: withTinyBodyLimit, method: "POST", target: "/train/step", body: `{"steps": 1, "batch_size": 1, "seed": 1` + strings.Repeat(" ", 64) + `}`, header: asJSON, wantStatus: 413},
		{name: "nok, save version without token", opts: withToken, method: "POST", target: "/models/gan/versions", wantStatus: 401},
		{name: "nok, save version with a field", method: "POST", target: "/models/gan/versions", body: `{"version": 7}`, header: asJSON, wantStatus: 400, specRejects: true},
		{name: "nok, model status unknown model", method: "GET", target: "/models/other", wantStatus: 404},
		{name: "nok, save version unknown model", method: "POST", target: "/models/other/versions", wantStatus: 404},
		{name: "nok, tf status unknown model", method: "GET", target: "/v1/models/other", wantStatus: 404},
		{name: "nok, tf status unknown version", method: "GET", target: "/v1/models/gan/versions/9", wantStatus: 404},
		{name: "nok, tf status version 0", method: "GET", target: "/v1/models/gan/versions/0", wantStatus: 400, specRejects: true},
		{name: "nok, tf metadata unknown model", method: "GET", target: "/v1/models/other/metadata", wantStatus: 404},
		{name: "nok, tf metadata version not served", method: "GET", target: "/v1/models/gan/versions/9/metadata", wantStatus: 404},
		{name: "nok, predict unknown model", method: "POST", target: "/v1/models/other:predict", body: `{"instances": [` + zRow(0) + `]}`, header: asJSON, wantStatus: 404},
		{name: "nok, predict version not served", method: "POST", target: "/v1/models/gan/versions/9:predict", body: `{"instances": [` + zRow(0) + `]}`, header: asJSON, wantStatus: 404},
		{name: "nok, predict wrong tensor shape", method: "POST", target: "/v1/models/gan:predict", body: `{"instances": [[1, 2, 3]]}`, header: asJSON, wantStatus: 400},
		{name: "nok, predict train_step", method: "POST", target: "/v1/models/gan:predict", body: `{"signature_name": "train_step", "instances": [` + zRow(0) + `]}`, header: asJSON, wantStatus: 400},
		{name: "nok, predict instances and inputs", method: "POST", target: "/v1/models/gan:predict", body: `{"instances": [` + zRow(0) + `], "inputs": [` + zRow(0) + `]}`, header: asJSON, wantStatus: 400, specRejects: true},
		{name: "nok, predict neither instances nor inputs", method: "POST", target: "/v1/models/gan:predict", body: `{"signature_name": "generate"}`, header: asJSON, wantStatus: 400, specRejects: true},
		{name: "nok, predict empty instances", method: "POST", target: "/v1/models/gan:predict", body: `{"instances": []}`, header: asJSON, wantStatus: 400, specRejects: true},
		{name: "nok, predict unknown field", method: "POST", target: "/v1/models/gan:predict", body: `{"instance": [` + zRow(0) + `]}`, header: asJSON, wantStatus: 400, specRejects: true},
		{name: "nok, predict body too large", opts: withTinyBodyLimit, method: "POST", target: "/v1/models/gan:predict", body: `{"instances": [` + zRow(0) + `]}`, header: asJSON, wantStatus: 413},
	}
	// Requests that cannot change the model share one server; the rest get their own, since
	// loading a server is most of this test's time.
	shared := MustServer(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := shared
			if tc.opts != nil || tc.method != http.MethodGet {
				ts = MustServer(t, tc.opts...)
			}
			rec := ts.do(tc.method, tc.target, tc.body, tc.header...)
			if rec.Code != tc.wantStatus {
				t.Fatalf("got status %d, want %d; body: %.300s", rec.Code, tc.wantStatus, rec.Body.String())
			}

			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatalf("got no route in the spec for %s %s (%v), want one", tc.method, tc.target, err)
			}
			in := &openapi3filter.RequestValidationInput{
				Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{
					AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
					IncludeResponseStatus: true,
					MultiError:            true,
				},
			}
			err = openapi3filter.ValidateRequest(context.Background(), in)
			if got := err != nil; got != tc.specRejects {
				t.Errorf("got spec rejects request = %v (%v), want %v", got, err, tc.specRejects)
			}

			err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in,
				Status:                 rec.Code,
				Header:                 rec.Header(),
				Body:                   io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
				Options:                in.Options,
			})
			if err != nil {
				t.Errorf("got response not matching the spec: %v\nbody: %.500s", err, rec.Body.String())
			}
		})
	}
}

// echoParam is echo's ":name" path parameter, which the spec writes "{name}".
var echoParam = regexp.MustCompile(`:(\w+)`)

// tfServingPaths are the spec paths echo serves with its one "/v1/models/*" route per method.
var tfServingPaths = map[string][]string{
	http.MethodGet: {
		"/v1/models/{name}",
		"/v1/models/{name}/versions/{version}",
		"/v1/models/{name}/metadata",
		"/v1/models/{name}/versions/{version}/metadata",
	},
	http.MethodPost: {
		"/v1/models/{name}:predict",
		"/v1/models/{name}/versions/{version}:predict",
	},
}

// TestEveryRouteIsDocumentedInOpenAPI checks that the server's routes and the spec's
// operations are the same set.
func TestEveryRouteIsDocumentedInOpenAPI(t *testing.T) {
	doc := mustSpec(t)
	ts := MustServer(t)

	var served []string
	for _, r := range ts.e.Routes() {
		if r.Path == "/v1/models/*" {
			for _, p := range tfServingPaths[r.Method] {
				served = append(served, r.Method+" "+p)
			}
			continue
		}
		served = append(served, r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}"))
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(served)
	slices.Sort(documented)

	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("got route %q served but not in %s, want it documented", r, specPath)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("got operation %q in %s but not served, want it removed", r, specPath)
		}
	}
}
