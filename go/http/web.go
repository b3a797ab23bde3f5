package ganhttp

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// web holds the browser page: one HTML file, its script and its style sheet. They are embedded
// in the binary, so the page works offline and needs no build step.
//
//go:embed web/index.html web/app.js web/style.css
var web embed.FS

// webCSP allows nothing but same-origin scripts, styles, images and fetches. The page has no
// inline script or style; generated grids are fetched and shown through blob: URLs, which only
// the page's own script can create.
const webCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// webCacheControl lets browsers and proxies keep the page briefly; the ETag revalidates it after.
const webCacheControl = "public, max-age=60"

// webFiles are the page's routes: URL path, embedded file and content type.
var webFiles = []struct{ path, file, contentType string }{
	{"/", "web/index.html", "text/html; charset=utf-8"},
	{"/web/app.js", "web/app.js", "text/javascript; charset=utf-8"},
	{"/web/style.css", "web/style.css", "text/css; charset=utf-8"},
}

// registerWeb serves the page at GET / and its assets under /web/.
func (s *server) registerWeb(e *echo.Echo) {
	for _, f := range webFiles {
		body, err := web.ReadFile(f.file)
		if err != nil {
			panic("ganhttp: embedded page file missing: " + err.Error()) // a build mistake
		}
		e.GET(f.path, staticHandler(body, f.contentType))
	}
}

// staticHandler serves one embedded file with its validators; http.ServeContent answers
// If-None-Match with 304, HEAD and ranges.
func staticHandler(body []byte, contentType string) echo.HandlerFunc {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, contentType)
		h.Set("Cache-Control", webCacheControl)
		h.Set("ETag", etag)
		h.Set("Content-Security-Policy", webCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(body))
		return nil
	}
}
