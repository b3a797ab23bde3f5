package ganhttp

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/ganhost/ganhost/go/gan"
)

// modelStatusResponse is the body of GET /models/{name}.
type modelStatusResponse struct {
	Name          string            `json:"name"`
	Kind          string            `json:"kind"` // "conditional" (takes ?digit=) or "unconditional"
	BasePath      string            `json:"base_path"`
	ServedVersion int64             `json:"served_version"`
	Versions      []versionDTO      `json:"versions"`
	Step          int64             `json:"step"`
	UnsavedSteps  int64             `json:"unsaved_steps"`
	Training      *trainProgressDTO `json:"training"`
	Dataset       string            `json:"dataset"`
}

type versionDTO struct {
	Version int64 `json:"version"`
	Served  bool  `json:"served"`
}

// saveVersionResponse is the body of POST /models/{name}/versions.
type saveVersionResponse struct {
	Version int64  `json:"version"`
	Path    string `json:"path"`
	Step    int64  `json:"step"`
}

// checkModelName answers 404 for any model but the served one.
func (s *server) checkModelName(name string) error {
	if st := s.svc.Status(); name != st.Name {
		return gan.Errorf(gan.ENOTFOUND, "model %q not found; this server serves %q", name, st.Name)
	}
	return nil
}

// modelStatus serves GET /models/{name}.
func (s *server) modelStatus(c echo.Context) error {
	if err := s.checkModelName(c.Param("name")); err != nil {
		return err
	}
	st := s.svc.Status()
	kind := "unconditional"
	if st.Conditional {
		kind = "conditional"
	}
	body := modelStatusResponse{
		Name: st.Name, Kind: kind, BasePath: st.Base, ServedVersion: st.ServedVersion, Versions: []versionDTO{},
		Step: st.Step, UnsavedSteps: st.UnsavedSteps, Dataset: st.Dataset,
	}
	for _, v := range st.Versions {
		body.Versions = append(body.Versions, versionDTO{Version: v, Served: v == st.ServedVersion})
	}
	if st.Training != nil {
		p := progressDTO(*st.Training)
		body.Training = &p
	}
	return c.JSON(http.StatusOK, body)
}

// saveVersion serves POST /models/{name}/versions: the training state becomes version N+1,
// which is then served.
func (s *server) saveVersion(c echo.Context) error {
	if err := s.checkModelName(c.Param("name")); err != nil {
		return err
	}
	if err := bindJSON(c, &struct{}{}); err != nil { // no body expected; reject stray fields
		return err
	}
	info, err := s.svc.SaveVersion(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, saveVersionResponse{Version: info.Version, Path: info.Path, Step: info.Step})
}

// readyResponse is the body of GET /readyz. bad_versions lists newer versions that failed to
// load (an older one is served): ready, but an operator should look.
type readyResponse struct {
	Status      string            `json:"status"`
	Model       string            `json:"model"`
	Version     int64             `json:"version"`
	BadVersions map[string]string `json:"bad_versions"`
}

// healthz serves GET /healthz: the process is alive.
func (s *server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz serves GET /readyz: a model is loaded and being served.
func (s *server) readyz(c echo.Context) error {
	st := s.svc.Status()
	if st.ServedVersion < 1 {
		return gan.Errorf(gan.EUNAVAILABLE, "no model version is loaded")
	}
	body := readyResponse{Status: "ready", Model: st.Name, Version: st.ServedVersion, BadVersions: map[string]string{}}
	for v, why := range st.BadVersions {
		body.BadVersions[strconv.FormatInt(v, 10)] = why
	}
	return c.JSON(http.StatusOK, body)
}
