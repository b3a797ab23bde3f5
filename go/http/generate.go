package ganhttp

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/ganhost/ganhost/go/gan"
)

// generateResponse is the body of GET /generate?format=json.
type generateResponse struct {
	ModelVersion int64    `json:"model_version"`
	Seed         int64    `json:"seed"`
	N            int      `json:"n"`
	Images       []string `json:"images"` // base64 PNG per image
}

var generateParams = []string{"n", "seed", "format", "scale", "digit"}

// generate serves GET /generate?n=16&seed=S&format=png|json&scale=K&digit=D.
func (s *server) generate(c echo.Context) error {
	req, err := s.parseGenerate(c.QueryParams())
	if err != nil {
		return err
	}
	if err := req.Validate(s.cfg.MaxN); err != nil {
		return err
	}
	images, err := s.svc.Generate(c.Request().Context(), req)
	if err != nil {
		return err
	}
	s.metrics.images.Add(float64(images.N))

	h := c.Response().Header()
	// The same URL gives new images once a new version is served: caches must revalidate.
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Seed", strconv.FormatInt(images.Seed, 10))
	h.Set("X-Model-Version", strconv.FormatInt(images.Version, 10))
	if req.Format == gan.FormatJSON {
		body := generateResponse{ModelVersion: images.Version, Seed: images.Seed, N: images.N, Images: make([]string, images.N)}
		for i := range images.N {
			tile, err := gan.Tile(images.Pixels, i, req.Scale)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := gan.EncodePNG(&buf, tile); err != nil {
				return err
			}
			body.Images[i] = base64.StdEncoding.EncodeToString(buf.Bytes())
		}
		return c.JSON(http.StatusOK, body)
	}
	grid, err := gan.Grid(images.Pixels, images.N, req.Scale)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := gan.EncodePNG(&buf, grid); err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "image/png", buf.Bytes())
}

// parseGenerate reads the query. Unknown or repeated parameters are errors, so a typo such as
// ?num=64 is not silently served with the defaults.
func (s *server) parseGenerate(q url.Values) (gan.GenerateRequest, error) {
	req := gan.GenerateRequest{N: gan.DefaultN, Scale: 1, Format: gan.FormatPNG, Seed: rand.Int64N(1 << 53)}
	for name, values := range q {
		if !contains(generateParams, name) {
			return req, gan.Errorf(gan.EINVALID, "unknown query parameter %q; allowed: n, seed, format, scale, digit", name)
		}
		if len(values) > 1 {
			return req, gan.Errorf(gan.EINVALID, "query parameter %q given %d times", name, len(values))
		}
	}
	var err error
	if v := q.Get("n"); q.Has("n") {
		if req.N, err = strconv.Atoi(v); err != nil {
			return req, gan.Errorf(gan.EINVALID, "n must be an integer in 1..%d, got %q", s.cfg.MaxN, v)
		}
	}
	if v := q.Get("scale"); q.Has("scale") {
		if req.Scale, err = strconv.Atoi(v); err != nil {
			return req, gan.Errorf(gan.EINVALID, "scale must be an integer in 1..%d, got %q", gan.MaxScale, v)
		}
	}
	if v := q.Get("seed"); q.Has("seed") {
		if req.Seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			return req, gan.Errorf(gan.EINVALID, "seed must be an integer in -9223372036854775808..9223372036854775807, got %q", v)
		}
	}
	if v := q.Get("digit"); q.Has("digit") {
		d, err := strconv.Atoi(v)
		if err != nil {
			return req, gan.Errorf(gan.EINVALID, "digit must be an integer in 0..%d, got %q", gan.NumClasses-1, v)
		}
		req.Digit = &d
	}
	if q.Has("format") {
		req.Format = q.Get("format")
	}
	return req, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
