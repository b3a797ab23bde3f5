package ganhttp

import (
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ganhost/ganhost/go/gan"
)

// metrics are the Prometheus series of /metrics.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	images    prometheus.Counter
	steps     prometheus.Counter
	lastDLoss prometheus.Gauge
	lastGLoss prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry, svc gan.Service) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ganhost_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ganhost_http_request_duration_seconds", Help: "HTTP request latency by route, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method", "status"}),
		images: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ganhost_generated_images_total", Help: "Images generated (through /generate and :predict).",
		}),
		steps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ganhost_train_steps_total", Help: "Training steps run.",
		}),
		lastDLoss: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ganhost_last_d_loss", Help: "Discriminator loss of the last training step.",
		}),
		lastGLoss: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ganhost_last_g_loss", Help: "Generator loss of the last training step.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.images, m.steps, m.lastDLoss, m.lastGLoss,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ganhost_served_model_version", Help: "Version of the model being served.",
		}, func() float64 { return float64(svc.Status().ServedVersion) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ganhost_unsaved_steps", Help: "Training steps not yet saved as a version.",
		}, func() float64 { return float64(svc.Status().UnsavedSteps) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ganhost_bad_versions", Help: "Complete model versions on disk that failed to load (an older one is served).",
		}, func() float64 { return float64(len(svc.Status().BadVersions)) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) observeRequest(route, method string, status int, elapsed time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, method, code).Inc()
	m.latency.WithLabelValues(route, method, code).Observe(elapsed.Seconds())
}

func (m *metrics) observeTraining(res gan.TrainResult) {
	m.steps.Add(float64(res.StepsRun))
	if res.StepsRun > 0 {
		m.lastDLoss.Set(float64(res.Last.DLoss))
		m.lastGLoss.Set(float64(res.Last.GLoss))
	}
}

func (m *metrics) handler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}
