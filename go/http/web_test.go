package ganhttp_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var (
	// htmlRef is every src or href attribute of the page.
	htmlRef = regexp.MustCompile(`\b(?:src|href)\s*=\s*["']([^"']*)["']`)
	// scriptTag is a script element with what follows its start tag.
	scriptTag = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	// inlineCode is what a CSP without 'unsafe-inline' blocks: style elements and attributes,
	// event handler attributes and javascript: URLs.
	inlineCode = regexp.MustCompile(`(?i)<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:`)
	// jsPath is a same-origin path the script requests: a string literal starting with "/".
	jsPath = regexp.MustCompile("['\"`](/[a-z][a-z/]*)")
)

func TestWebPage(t *testing.T) {
	ts := MustServer(t)
	rec := ts.do(http.MethodGet, "/", "")
	wantStatus(t, rec, http.StatusOK)
	h := rec.Header()
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type=%q, want text/html; charset=utf-8", ct)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy=%q, want it to contain %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:", "data:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("Content-Security-Policy=%q allows %q", csp, bad)
		}
	}
	if cc := h.Get("Cache-Control"); !strings.Contains(cc, "max-age=") || strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control=%q, want a short max-age", cc)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("X-Content-Type-Options=%q, want nosniff", h.Get("X-Content-Type-Options"))
	}

	page := rec.Body.String()
	for _, want := range []string{`id="grid"`, `id="seed"`, `id="new-seed"`, `id="digit-field" hidden`, `id="train-form"`, `id="chart"`, `id="version-list"`, `id="save"`, `type="password"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	scripts := scriptTag.FindAllStringSubmatch(page, -1)
	if len(scripts) == 0 {
		t.Error("page has no script element")
	}
	for _, m := range scripts {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script %q: the CSP would block it", m[0])
		}
	}
	if m := inlineCode.FindString(page); m != "" {
		t.Errorf("page has inline code %q: the CSP would block it", m)
	}

	// A revalidation with the ETag is answered 304.
	etag := h.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	wantStatus(t, ts.do(http.MethodGet, "/", "", "If-None-Match", etag), http.StatusNotModified)
}

// TestWebPageAssetsAreServed fetches every src and href of the page: each is same-origin and
// served with its type (the script as JavaScript, which browsers require under nosniff).
func TestWebPageAssetsAreServed(t *testing.T) {
	ts := MustServer(t)
	page := ts.do(http.MethodGet, "/", "").Body.String()
	refs := htmlRef.FindAllStringSubmatch(page, -1)
	if len(refs) < 2 {
		t.Fatalf("page references %d assets, want at least its script and style sheet", len(refs))
	}
	wantType := map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
	}
	seen := map[string]bool{}
	for _, m := range refs {
		ref := m[1]
		if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
			t.Errorf("page references %q, want a same-origin path", ref)
			continue
		}
		rec := ts.do(http.MethodGet, ref, "")
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200; body: %.200s", ref, rec.Code, rec.Body.String())
			continue
		}
		for ext, want := range wantType {
			if strings.HasSuffix(ref, ext) {
				seen[ext] = true
				if ct := rec.Header().Get("Content-Type"); ct != want {
					t.Errorf("GET %s: Content-Type=%q, want %q", ref, ct, want)
				}
				if rec.Header().Get("Content-Security-Policy") == "" {
					t.Errorf("GET %s: no Content-Security-Policy", ref)
				}
			}
		}
	}
	for ext := range wantType {
		if !seen[ext] {
			t.Errorf("page references no %s file", ext)
		}
	}
}

func TestWebScript(t *testing.T) {
	ts := MustServer(t)
	rec := ts.do(http.MethodGet, "/web/app.js", "")
	wantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type=%q, want text/javascript", ct)
	}
	// The API paths the script calls are routes of this server, so renaming one breaks here
	// rather than only in a browser.
	var routes []string
	for _, r := range ts.e.Routes() {
		routes = append(routes, r.Path)
	}
	paths := jsPath.FindAllStringSubmatch(rec.Body.String(), -1)
	if len(paths) < 4 {
		t.Fatalf("found %d API paths in the script, want at least 4", len(paths))
	}
	for _, m := range paths {
		found := false
		for _, r := range routes {
			found = found || strings.Contains(r, m[1])
		}
		if !found {
			t.Errorf("script requests %q, which no route serves", m[1])
		}
	}
	wantStatus(t, ts.do(http.MethodGet, "/web/missing.js", ""), http.StatusNotFound)
}
