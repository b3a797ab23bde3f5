package ganhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ganhost/ganhost/go/gan"
)

// bindJSON decodes the request body into v strictly: unknown fields, trailing data and wrong
// types are client errors naming the field. An empty body leaves v as it is (its defaults).
// echo's Bind would silently accept unknown fields and does not tell an empty body apart.
// The Content-Type is not checked: `curl -d` sends form encoding for JSON bodies.
//
// Query parameters are refused: `POST /train/step?steps=100` would otherwise run the defaults.
func bindJSON(c echo.Context, v any) error {
	for name := range c.QueryParams() {
		return gan.Errorf(gan.EINVALID, "unknown query parameter %q: this endpoint takes its parameters as a JSON body", name)
	}
	raw, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return echo.ErrStatusRequestEntityTooLarge
		}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he
		}
		return gan.Errorf(gan.EINVALID, "cannot read the request body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return gan.Errorf(gan.EINVALID, "request body must hold a single JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return gan.Errorf(gan.EINVALID, "request body must hold a single JSON object")
	}
	return nil
}

// jsonError turns a decoding error into a client message naming the field.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return gan.Errorf(gan.EINVALID, "request body must be a JSON object, got %s", typeErr.Value)
		}
		return gan.Errorf(gan.EINVALID, "field %q must be %s, got %s", typeErr.Field, jsonKind(typeErr.Type.String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return gan.Errorf(gan.EINVALID, "request body is not valid JSON: %v (at byte %d)", syntaxErr, syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return gan.Errorf(gan.EINVALID, "request body is truncated JSON")
	default:
		// DisallowUnknownFields reports `json: unknown field "x"`.
		return gan.Errorf(gan.EINVALID, "request body: %s", bytes.TrimPrefix([]byte(err.Error()), []byte("json: ")))
	}
}

func jsonKind(goType string) string {
	switch goType {
	case "int", "*int", "int64", "*int64":
		return "an integer"
	case "string", "*string":
		return "a string"
	default:
		return fmt.Sprintf("of type %s", goType)
	}
}
