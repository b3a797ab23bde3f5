package ganhttp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ganhost/ganhost/go/gan"
)

// codeStatus is the one table from error codes to HTTP statuses.
var codeStatus = map[string]int{
	gan.EINVALID:     http.StatusBadRequest,
	gan.ENOTFOUND:    http.StatusNotFound,
	gan.ECONFLICT:    http.StatusConflict,
	gan.EUNAVAILABLE: http.StatusServiceUnavailable,
	gan.EINTERNAL:    http.StatusInternalServerError,
}

// codeUnauthorized is the code of a missing or wrong bearer token; it exists only in HTTP.
const codeUnauthorized = "unauthorized"

// errorBody is every error response: "error" as TF Serving writes it, plus a stable code.
type errorBody struct {
	Error    string            `json:"error"`
	Code     string            `json:"code"`
	Progress *trainProgressDTO `json:"progress,omitempty"` // the run in progress, on 409
}

// handleError is echo's HTTPErrorHandler: every error becomes a JSON body. Internal causes are
// logged with the request id and never sent to the client.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := s.errorResponse(err)
	if status >= 500 {
		logger(c).Error("request failed", "status", status, "err", err)
	}
	var ge *gan.Error
	if errors.As(err, &ge) && ge.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(ge.RetryAfter.Round(time.Second).Seconds())))
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="ganhost"`)
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, body)
	}
	if err != nil {
		logger(c).Error("cannot write error response", "err", err)
	}
}

func (s *server) errorResponse(err error) (int, errorBody) {
	var ge *gan.Error
	if errors.As(err, &ge) {
		status, ok := codeStatus[ge.Code]
		if !ok {
			status = http.StatusInternalServerError
		}
		body := errorBody{Error: ge.Message, Code: ge.Code}
		var conflict *gan.ConflictError
		if errors.As(err, &conflict) {
			p := progressDTO(conflict.Progress)
			body.Progress = &p
		}
		return status, body
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code := gan.EINVALID
		switch {
		case he.Code == http.StatusUnauthorized:
			code = codeUnauthorized
		case he.Code == http.StatusNotFound:
			code = gan.ENOTFOUND
		case he.Code >= 500:
			code = gan.EINTERNAL
		}
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			msg = m
		}
		if he.Code == http.StatusRequestEntityTooLarge {
			msg = fmt.Sprintf("request body exceeds the limit of %d bytes", s.cfg.MaxBodyBytes)
		}
		return he.Code, errorBody{Error: msg, Code: code}
	}
	return http.StatusInternalServerError, errorBody{Error: "internal error", Code: gan.EINTERNAL}
}

// logger returns the request's logger (with its request id).
func logger(c echo.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

func bodyLimitString(n int64) string { return strconv.FormatInt(n, 10) + "B" }
