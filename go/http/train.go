package ganhttp

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ganhost/ganhost/go/gan"
)

// trainRequest is the optional JSON body of POST /train/step.
type trainRequest struct {
	Steps     *int   `json:"steps"`
	BatchSize *int   `json:"batch_size"`
	Seed      *int64 `json:"seed"`
}

// trainResponse reports a training run.
type trainResponse struct {
	Step            int64   `json:"step"`
	StepsRun        int     `json:"steps_run"`
	DLoss           float32 `json:"d_loss"`
	GLoss           float32 `json:"g_loss"`
	DLossMean       float64 `json:"d_loss_mean"`
	GLossMean       float64 `json:"g_loss_mean"`
	DurationMS      int64   `json:"duration_ms"`
	ImagesPerSecond float64 `json:"images_per_second"`
	ModelVersion    int64   `json:"model_version"`
	UnsavedSteps    int64   `json:"unsaved_steps"`
	BatchSize       int     `json:"batch_size"`
	Seed            int64   `json:"seed"`
}

// trainProgressDTO is the run in progress, in a 409 answer and in the model status.
type trainProgressDTO struct {
	StepsRun  int       `json:"steps_run"`
	Steps     int       `json:"steps"`
	Step      int64     `json:"step"`
	StartedAt time.Time `json:"started_at"`
}

func progressDTO(p gan.TrainProgress) trainProgressDTO {
	return trainProgressDTO{StepsRun: p.StepsRun, Steps: p.Steps, Step: p.Step, StartedAt: p.Started.UTC()}
}

// trainStep serves POST /train/step. The run goes on while the client waits; if the client
// goes away, training stops after the current step and the steps run are kept.
func (s *server) trainStep(c echo.Context) error {
	var body trainRequest
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	req := gan.TrainRequest{Steps: gan.DefaultSteps, BatchSize: gan.DefaultBatchSize, Seed: body.Seed}
	if body.Steps != nil {
		req.Steps = *body.Steps
	}
	if body.BatchSize != nil {
		req.BatchSize = *body.BatchSize
	}
	if err := req.Validate(); err != nil {
		return err
	}
	// A long run outlives the server's write timeout; extend it for this response only.
	_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Now().Add(s.cfg.TrainTimeout))

	res, err := s.svc.Train(c.Request().Context(), req)
	s.metrics.observeTraining(res)
	if err != nil {
		return err
	}
	ips := 0.0
	if secs := res.Duration.Seconds(); secs > 0 {
		ips = float64(res.Images) / secs
	}
	return c.JSON(http.StatusOK, trainResponse{
		Step:            res.Last.Step,
		StepsRun:        res.StepsRun,
		DLoss:           res.Last.DLoss,
		GLoss:           res.Last.GLoss,
		DLossMean:       res.DLossMean,
		GLossMean:       res.GLossMean,
		DurationMS:      res.Duration.Milliseconds(),
		ImagesPerSecond: ips,
		ModelVersion:    res.Version,
		UnsavedSteps:    s.svc.Status().UnsavedSteps,
		BatchSize:       req.BatchSize,
		Seed:            res.Seed,
	})
}

// historyResponse is the body of GET /train/history.
type historyResponse struct {
	Steps []stepDTO `json:"steps"`
}

type stepDTO struct {
	Step  int64   `json:"step"`
	DLoss float32 `json:"d_loss"`
	GLoss float32 `json:"g_loss"`
}

// trainHistory serves GET /train/history?since=S&limit=L: recent steps' losses, for charts that
// poll for what is new.
func (s *server) trainHistory(c echo.Context) error {
	q := c.QueryParams()
	since, limit := int64(0), 1000
	for name, values := range q {
		if name != "since" && name != "limit" {
			return gan.Errorf(gan.EINVALID, "unknown query parameter %q; allowed: since, limit", name)
		}
		if len(values) > 1 {
			return gan.Errorf(gan.EINVALID, "query parameter %q given %d times", name, len(values))
		}
	}
	var err error
	if v := q.Get("since"); q.Has("since") {
		if since, err = strconv.ParseInt(v, 10, 64); err != nil || since < 0 {
			return gan.Errorf(gan.EINVALID, "since must be a global step, an integer >= 0, got %q", v)
		}
	}
	if v := q.Get("limit"); q.Has("limit") {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > gan.MaxHistory {
			return gan.Errorf(gan.EINVALID, "limit must be an integer in 1..%d, got %q", gan.MaxHistory, v)
		}
	}
	body := historyResponse{Steps: []stepDTO{}}
	for _, r := range s.svc.History(since, limit) {
		body.Steps = append(body.Steps, stepDTO{Step: r.Step, DLoss: r.DLoss, GLoss: r.GLoss})
	}
	return c.JSON(http.StatusOK, body)
}
