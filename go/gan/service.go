package gan

import (
	"context"
	"time"
)

// Limits of requests; the HTTP layer documents them and Validate methods enforce them.
const (
	DefaultN         = 16
	DefaultMaxN      = 256
	DefaultSteps     = 1
	MaxSteps         = 10000
	DefaultBatchSize = 64
	MaxBatchSize     = 1024
)

// MaxHistory is how many recent training steps the service remembers for loss charts.
const MaxHistory = 10000

// Image formats of GenerateRequest.
const (
	FormatPNG  = "png"
	FormatJSON = "json"
)

// NumClasses is the number of digit classes a conditional model knows (labels 0..9).
const NumClasses = 10

// GenerateRequest asks for N images from noise seeded by Seed.
type GenerateRequest struct {
	N      int
	Seed   int64
	Scale  int    // pixel scale factor, 1..MaxScale
	Format string // FormatPNG (one grid) or FormatJSON (one PNG per image)
	Digit  *int   // class to generate (conditional models only); nil: classes drawn from Seed
}

// Validate checks the request against the allowed ranges; maxN is the server's -max-n.
// Errors: EINVALID naming the parameter and its range.
func (r GenerateRequest) Validate(maxN int) error {
	switch {
	case r.N < 1 || r.N > maxN:
		return Errorf(EINVALID, "n must be an integer in 1..%d, got %d", maxN, r.N)
	case r.Scale < 1 || r.Scale > MaxScale:
		return Errorf(EINVALID, "scale must be an integer in 1..%d, got %d", MaxScale, r.Scale)
	case r.Format != FormatPNG && r.Format != FormatJSON:
		return Errorf(EINVALID, "format must be %q or %q, got %q", FormatPNG, FormatJSON, r.Format)
	case r.Digit != nil && (*r.Digit < 0 || *r.Digit >= NumClasses):
		return Errorf(EINVALID, "digit must be an integer in 0..%d, got %d", NumClasses-1, *r.Digit)
	}
	return nil
}

// Labels returns the class labels to feed a model: nil for an unconditional model, Digit
// repeated, or classes drawn from Seed when no digit was asked for.
// Errors: EINVALID when a digit is asked of an unconditional model.
func (r GenerateRequest) Labels(conditional bool) ([]int32, error) {
	switch {
	case conditional && r.Digit != nil:
		return RepeatLabel(*r.Digit, r.N), nil
	case conditional:
		return Labels(r.Seed, r.N), nil
	case r.Digit != nil:
		return nil, Errorf(EINVALID, "digit needs a conditional model, but the served model is unconditional")
	}
	return nil, nil
}

// Images are generated images: N*ImagePixels values in [-1, 1], row-major [N, 28, 28, 1].
type Images struct {
	Pixels  []float32
	N       int
	Seed    int64
	Version int64 // model version that generated them
}

// TrainRequest asks for Steps training steps of BatchSize images each. Seed fixes the batches
// and noise of the run; nil picks one at random.
type TrainRequest struct {
	Steps     int
	BatchSize int
	Seed      *int64
}

// Validate checks the ranges. Errors: EINVALID naming the parameter and its range.
func (r TrainRequest) Validate() error {
	switch {
	case r.Steps < 1 || r.Steps > MaxSteps:
		return Errorf(EINVALID, "steps must be an integer in 1..%d, got %d", MaxSteps, r.Steps)
	case r.BatchSize < 1 || r.BatchSize > MaxBatchSize:
		return Errorf(EINVALID, "batch_size must be an integer in 1..%d, got %d", MaxBatchSize, r.BatchSize)
	}
	return nil
}

// TrainResult reports a finished (or interrupted) training run.
type TrainResult struct {
	Last      StepResult // the last step run
	StepsRun  int        // may be below the request's Steps when the run was interrupted
	DLossMean float64
	GLossMean float64
	Duration  time.Duration
	Seed      int64
	Images    int   // real images consumed: StepsRun * BatchSize
	Version   int64 // version being served when the run ended
}

// TrainProgress describes the training run in progress.
type TrainProgress struct {
	StepsRun int
	Steps    int
	Step     int64 // global step
	Started  time.Time
}

// VersionInfo describes a saved model version.
type VersionInfo struct {
	Version int64
	Path    string
	Step    int64 // global step of the saved state; 0 when not known
}

// ModelStatus describes what the service serves and holds.
type ModelStatus struct {
	Name          string
	Base          string
	ServedVersion int64
	Versions      []int64 // complete versions on disk, ascending
	Step          int64   // global step of the training state (a replica: of the served version); 0 when the model has none
	UnsavedSteps  int64   // steps trained since the last saved version
	Training      *TrainProgress
	Dataset       string // what training samples from; "" when training is unavailable
	Conditional   bool   // the served model takes class labels (GenerateRequest.Digit)
	// BadVersions are complete versions on disk that failed to load, with why; an older
	// version is served instead.
	BadVersions map[int64]string
}

// Tensor is a dense array of numbers, row-major. Integer inputs (labels) travel as float32 too
// and are checked to be whole numbers where the model needs integers.
type Tensor struct {
	Shape   []int
	Float32 []float32
}

// TensorSpec describes a signature input or output; -1 in Shape is the batch dimension.
type TensorSpec struct {
	Name  string // graph tensor name, e.g. "generate_z:0"
	DType string // TF Serving's spelling: "DT_FLOAT", "DT_INT64"
	Shape []int64
}

// SignatureSpec describes one signature of the served model.
type SignatureSpec struct {
	MethodName string
	Inputs     map[string]TensorSpec
	Outputs    map[string]TensorSpec
}

// PredictRequest runs a signature on named inputs (the TF Serving predict API).
type PredictRequest struct {
	Version   int64  // 0: the served version
	Signature string // "" means serving_default
	Inputs    map[string]Tensor
}

// Service is what the HTTP layer serves.
type Service interface {
	// Generate makes images. Errors: EINVALID for a request out of range; EUNAVAILABLE when the
	// service is at its limit of concurrent generation work.
	Generate(ctx context.Context, req GenerateRequest) (Images, error)
	// Train runs a training run to completion, or until ctx ends (then the steps run so far
	// are kept and reported). Errors: EINVALID; ECONFLICT (with *ConflictError) while another
	// run is in progress; EUNAVAILABLE when no dataset is loaded; EINTERNAL when training diverges.
	Train(ctx context.Context, req TrainRequest) (TrainResult, error)
	// SaveVersion saves the training state as the next version and serves it.
	// Errors: ECONFLICT while a training run is in progress; EINTERNAL when writing fails.
	SaveVersion(ctx context.Context) (VersionInfo, error)
	// Status describes the served model, the versions on disk and the training state.
	Status() ModelStatus
	// History returns up to limit recorded training steps with a global step above since, oldest
	// first (the host keeps the most recent MaxHistory).
	History(since int64, limit int) []StepResult
	// Signatures describes the served model's signatures, keyed by name.
	Signatures() map[string]SignatureSpec
	// Predict runs a signature. Errors: EINVALID for an unknown signature or input, or a shape
	// mismatch; ENOTFOUND for a version that is not served.
	Predict(ctx context.Context, req PredictRequest) (map[string]Tensor, int64, error)
}

// ConflictError is the cause of an ECONFLICT from Train or SaveVersion: the run in progress.
type ConflictError struct{ Progress TrainProgress }

func (e *ConflictError) Error() string { return "a training run is in progress" }
