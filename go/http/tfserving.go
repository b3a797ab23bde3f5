package ganhttp

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ganhost/ganhost/go/gan"
)

// tfPath is a parsed TF Serving path below /v1/models/.
type tfPath struct {
	name    string
	version int64  // 0 when the path names none
	verb    string // "" (status), "metadata" or "predict"
}

// parseTFPath parses "{name}[/versions/{v}][/metadata|:predict]".
func parseTFPath(rest string) (tfPath, error) {
	var p tfPath
	if before, ok := strings.CutSuffix(rest, ":predict"); ok {
		rest, p.verb = before, "predict"
	} else if before, ok := strings.CutSuffix(rest, "/metadata"); ok {
		rest, p.verb = before, "metadata"
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		p.name = parts[0]
	case len(parts) == 3 && parts[0] != "" && parts[1] == "versions":
		p.name = parts[0]
		v, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil || v < 1 {
			return p, gan.Errorf(gan.EINVALID, "version must be a positive integer, got %q", parts[2])
		}
		p.version = v
	default:
		return p, gan.Errorf(gan.ENOTFOUND, "no such endpoint: /v1/models/%s; expected /v1/models/{name}[/versions/{v}][/metadata|:predict]", rest)
	}
	return p, nil
}

func (s *server) parseTFRequest(c echo.Context) (tfPath, error) {
	p, err := parseTFPath(c.Param("*"))
	if err != nil {
		return p, err
	}
	return p, s.checkModelName(p.name)
}

// tfServingGet serves GET /v1/models/{name}[/versions/{v}] and .../metadata.
func (s *server) tfServingGet(c echo.Context) error {
	p, err := s.parseTFRequest(c)
	if err != nil {
		return err
	}
	switch p.verb {
	case "":
		return s.tfModelStatus(c, p)
	case "metadata":
		return s.tfMetadata(c, p)
	default:
		return echo.NewHTTPError(http.StatusMethodNotAllowed, "predict needs POST")
	}
}

// tfServingPost serves POST /v1/models/{name}[/versions/{v}]:predict.
func (s *server) tfServingPost(c echo.Context) error {
	p, err := s.parseTFRequest(c)
	if err != nil {
		return err
	}
	if p.verb != "predict" {
		return echo.NewHTTPError(http.StatusMethodNotAllowed, "only :predict accepts POST")
	}
	return s.tfPredict(c, p)
}

// TF Serving's status documents.
type tfModelStatusResponse struct {
	ModelVersionStatus []tfVersionStatus `json:"model_version_status"`
}

type tfVersionStatus struct {
	Version string   `json:"version"`
	State   string   `json:"state"`
	Status  tfStatus `json:"status"`
}

type tfStatus struct {
	ErrorCode    string `json:"error_code"`
	ErrorMessage string `json:"error_message"`
}

// tfModelStatus answers like TF Serving's GetModelStatus: the served version is AVAILABLE and
// older versions on disk are END (not loaded; the policy serves the latest only).
func (s *server) tfModelStatus(c echo.Context, p tfPath) error {
	st := s.svc.Status()
	var out tfModelStatusResponse
	for i := len(st.Versions) - 1; i >= 0; i-- {
		v := st.Versions[i]
		if p.version != 0 && v != p.version {
			continue
		}
		state := "END"
		if v == st.ServedVersion {
			state = "AVAILABLE"
		}
		out.ModelVersionStatus = append(out.ModelVersionStatus, tfVersionStatus{
			Version: strconv.FormatInt(v, 10), State: state, Status: tfStatus{ErrorCode: "OK"},
		})
	}
	if len(out.ModelVersionStatus) == 0 {
		return gan.Errorf(gan.ENOTFOUND, "version %d of model %s not found", p.version, st.Name)
	}
	return c.JSON(http.StatusOK, out)
}

// TF Serving's metadata document (a JSON rendering of GetModelMetadataResponse).
type tfMetadataResponse struct {
	ModelSpec tfModelSpec `json:"model_spec"`
	Metadata  struct {
		SignatureDef tfSignatureDefMap `json:"signature_def"`
	} `json:"metadata"`
}

type tfModelSpec struct {
	Name          string `json:"name"`
	SignatureName string `json:"signature_name"`
	Version       string `json:"version"`
}

type tfSignatureDefMap struct {
	Type         string                    `json:"@type"`
	SignatureDef map[string]tfSignatureDef `json:"signature_def"`
}

type tfSignatureDef struct {
	Inputs     map[string]tfTensorInfo `json:"inputs"`
	Outputs    map[string]tfTensorInfo `json:"outputs"`
	MethodName string                  `json:"method_name"`
}

type tfTensorInfo struct {
	DType       string        `json:"dtype"`
	TensorShape tfTensorShape `json:"tensor_shape"`
	Name        string        `json:"name"`
}

type tfTensorShape struct {
	Dim         []tfDim `json:"dim"`
	UnknownRank bool    `json:"unknown_rank"`
}

type tfDim struct {
	Size string `json:"size"` // int64 as a string, as protobuf's JSON mapping writes it
	Name string `json:"name"`
}

func (s *server) tfMetadata(c echo.Context, p tfPath) error {
	st := s.svc.Status()
	if p.version != 0 && p.version != st.ServedVersion {
		return gan.Errorf(gan.ENOTFOUND, "version %d of model %s is not served; the served version is %d", p.version, st.Name, st.ServedVersion)
	}
	var out tfMetadataResponse
	out.ModelSpec = tfModelSpec{Name: st.Name, Version: strconv.FormatInt(st.ServedVersion, 10)}
	out.Metadata.SignatureDef = tfSignatureDefMap{
		Type:         "type.googleapis.com/tensorflow.serving.SignatureDefMap",
		SignatureDef: map[string]tfSignatureDef{},
	}
	for name, sig := range s.svc.Signatures() {
		def := tfSignatureDef{Inputs: map[string]tfTensorInfo{}, Outputs: map[string]tfTensorInfo{}, MethodName: sig.MethodName}
		for k, t := range sig.Inputs {
			def.Inputs[k] = tensorInfoDTO(t)
		}
		for k, t := range sig.Outputs {
			def.Outputs[k] = tensorInfoDTO(t)
		}
		out.Metadata.SignatureDef.SignatureDef[name] = def
	}
	return c.JSON(http.StatusOK, out)
}

func tensorInfoDTO(t gan.TensorSpec) tfTensorInfo {
	info := tfTensorInfo{DType: t.DType, Name: t.Name, TensorShape: tfTensorShape{Dim: []tfDim{}}}
	for _, d := range t.Shape {
		info.TensorShape.Dim = append(info.TensorShape.Dim, tfDim{Size: strconv.FormatInt(d, 10)})
	}
	return info
}
