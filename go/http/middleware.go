package ganhttp

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ganhost/ganhost/go/gan"
)

const loggerKey = "ganhost.logger"

// observe gives each request a logger carrying its request id, then logs the request and
// records its metrics once the final status is known (errors are rendered here, not later, so
// the status is the one the client gets).
func (s *server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		id := c.Response().Header().Get(echo.HeaderXRequestID)
		l := s.log.With("request_id", id)
		c.Set(loggerKey, l)
		c.SetRequest(c.Request().WithContext(gan.WithLogger(c.Request().Context(), l)))
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		elapsed := time.Since(start)
		s.metrics.observeRequest(route, c.Request().Method, status, elapsed)
		l.Info("request", "method", c.Request().Method, "path", c.Request().URL.Path, "route", route,
			"status", status, "bytes", c.Response().Size, "duration_ms", float64(elapsed.Microseconds())/1000)
		return nil
	}
}

// requireToken guards endpoints that change the model: with a token configured, the request
// must carry "Authorization: Bearer <token>". The comparison takes constant time so the token
// cannot be guessed byte by byte from response times, and the token is never logged.
func (s *server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.cfg.Token == "" {
			return next(c)
		}
		auth := c.Request().Header.Get(echo.HeaderAuthorization)
		const prefix = "Bearer "
		if len(auth) < len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) ||
			subtle.ConstantTimeCompare([]byte(auth[len(prefix):]), []byte(s.cfg.Token)) != 1 {
			return echo.NewHTTPError(http.StatusUnauthorized, "this endpoint needs the header 'Authorization: Bearer <GANHOST_TOKEN>'")
		}
		return next(c)
	}
}
