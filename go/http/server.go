// Package ganhttp serves a gan.Service over HTTP with echo: generation, training, versions and
// TF-Serving-compatible endpoints. It is the only package that imports echo; handlers only
// translate between HTTP and the service.
package ganhttp

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ganhost/ganhost/go/gan"
)

// Config configures the HTTP layer.
type Config struct {
	Service      gan.Service
	Token        string // bearer token for training and version writes; "" disables auth
	MaxN         int    // largest n for /generate and batch for :predict
	MaxBodyBytes int64  // request body limit
	TrainTimeout time.Duration
	Logger       *slog.Logger
	Registry     *prometheus.Registry // metrics are registered here and served at /metrics
}

// Defaults for Config fields left zero.
const (
	DefaultMaxBodyBytes = 8 << 20 // a :predict of 256 images as JSON text is about 2 MB
	DefaultTrainTimeout = time.Hour
)

// server holds what the handlers need.
type server struct {
	cfg     Config
	svc     gan.Service
	log     *slog.Logger
	metrics *metrics
}

// New returns the echo instance serving cfg.Service.
func New(cfg Config) *echo.Echo {
	if cfg.MaxN < 1 {
		cfg.MaxN = gan.DefaultMaxN
	}
	if cfg.MaxBodyBytes < 1 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.TrainTimeout <= 0 {
		cfg.TrainTimeout = DefaultTrainTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &server{cfg: cfg, svc: cfg.Service, log: cfg.Logger, metrics: newMetrics(cfg.Registry, cfg.Service)}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(
		middleware.RequestID(),
		s.observe, // logs and metrics see the final status, including recovered panics
		middleware.RecoverWithConfig(middleware.RecoverConfig{DisableErrorHandler: true, DisablePrintStack: true}),
		middleware.BodyLimit(bodyLimitString(cfg.MaxBodyBytes)),
	)

	auth := s.requireToken
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metrics.handler())
	e.GET("/generate", s.generate)
	e.POST("/train/step", s.trainStep, auth)
	e.GET("/train/history", s.trainHistory)
	e.GET("/models/:name", s.modelStatus)
	e.POST("/models/:name/versions", s.saveVersion, auth)
	// One route per method for the TF Serving API: its ":predict" suffix does not fit echo's
	// router (escaped colons collide), so tfserving.go parses the rest of the path itself.
	e.GET("/v1/models/*", s.tfServingGet)
	e.POST("/v1/models/*", s.tfServingPost)
	s.registerWeb(e) // GET /: the browser page (web.go), and its script and style under /web/
	return e
}

// NewHTTPServer wraps h with the timeouts a public server needs: slow clients cannot hold
// connections open, and handlers that legitimately run long extend their own write deadline.
func NewHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
