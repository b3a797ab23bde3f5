// Command rawgo measures the compute floor of the Go side: the SavedModel's signatures run
// straight through go/tfmodel, with no HTTP, no PNG and no host around them.
//
//	rawgo -mode generate -model savedmodel/gan/1 -batches 1,16,256 -reps 5 -d 2s
//	rawgo -mode train -model /tmp/copy/1 -data data/mnist -batches 64,256 -reps 3 -steps 100
//
// generate: Model.Generate on fixed noise, as go/tfmodel's BenchmarkGenerate does (n=1 is
// padded to a 48-row block by Generate itself, as it is in the host). train: Model.TrainStep
// with a fresh sampled batch and fresh noise every step, as `ganhost train` does. Each
// repetition is bounded by count (-iters / -steps) and by time (-d); warm-up calls come first.
// It prints one JSON object with every repetition and their median.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ganhost/ganhost/go/dataset"
	"github.com/ganhost/ganhost/go/gan"
	"github.com/ganhost/ganhost/go/tfmodel"
)

// Rep is one timed repetition.
type Rep struct {
	Calls   int     `json:"calls"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"calls_per_s"`
	Images  float64 `json:"images_per_s"`
}

// Row is one batch size.
type Row struct {
	Batch        int     `json:"batch"`
	Reps         []Rep   `json:"reps"`
	MedianPerSec float64 `json:"median_calls_per_s"` // steps/s for train
	MedianImages float64 `json:"median_images_per_s"`
	MedianMSCall float64 `json:"median_ms_per_call"`
}

// Output is what rawgo prints.
type Output struct {
	Mode       string `json:"mode"`
	Model      string `json:"model"`
	GoMaxProcs int    `json:"gomaxprocs"`
	Rows       []Row  `json:"rows"`
}

func main() {
	mode := flag.String("mode", "generate", "generate or train")
	model := flag.String("model", "savedmodel/gan/1", "SavedModel version directory")
	data := flag.String("data", "data/mnist", "dataset for -mode train")
	batchList := flag.String("batches", "1,16,256", "comma-separated batch sizes")
	reps := flag.Int("reps", 5, "timed repetitions per batch size, 1..100")
	maxDur := flag.Duration("d", 2*time.Second, "time bound of one repetition, at most 2m")
	iters := flag.Int("iters", 100000, "generate calls per repetition at most")
	steps := flag.Int("steps", 100, "train steps per repetition at most")
	warmup := flag.Int("warmup", 5, "untimed calls before the repetitions, per batch size")
	flag.Parse()
	if err := run(*mode, *model, *data, *batchList, *reps, *maxDur, *iters, *steps, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "rawgo:", err)
		os.Exit(1)
	}
}

func run(mode, modelDir, data, batchList string, reps int, maxDur time.Duration, iters, steps, warmup int) error {
	if reps < 1 || reps > 100 || maxDur <= 0 || maxDur > 2*time.Minute || iters < 1 || steps < 1 || warmup < 0 || warmup > 1000 {
		return fmt.Errorf("bounds: -reps 1..100, -d (0,2m], -iters/-steps >= 1, -warmup 0..1000")
	}
	var batches []int
	for _, f := range strings.Split(batchList, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || b < 1 || b > 1024 {
			return fmt.Errorf("-batches: bad batch size %q (1..1024)", f)
		}
		batches = append(batches, b)
	}
	m, err := tfmodel.Open(modelDir)
	if err != nil {
		return err
	}
	defer m.Close()
	out := Output{Mode: mode, Model: modelDir, GoMaxProcs: runtime.GOMAXPROCS(0)}

	var call func(b int) (func() error, error)
	limit := iters
	switch mode {
	case "generate":
		call = func(b int) (func() error, error) {
			z := gan.Noise(1, b)
			var labels []int32
			if m.Conditional() {
				labels = gan.Labels(1, b)
			}
			return func() error { _, err := m.Generate(z, labels, b); return err }, nil
		}
	case "train":
		limit = steps
		ds, err := dataset.Load(data)
		if err != nil {
			return err
		}
		call = func(b int) (func() error, error) {
			if b > ds.Len() {
				return nil, fmt.Errorf("batch %d exceeds the dataset size %d", b, ds.Len())
			}
			sampler := dataset.NewSampler(ds, 1)
			noise := gan.NewNoiseSource(1)
			var images, z []float32
			var labels []int32
			return func() error {
				images, labels = sampler.BatchLabels(images, labels, b)
				z = noise.Next(z, b)
				l := labels
				if !m.Conditional() {
					l = nil
				}
				_, err := m.TrainStep(images, z, l, b)
				return err
			}, nil
		}
	default:
		return fmt.Errorf("-mode must be generate or train, got %q", mode)
	}

	for _, b := range batches {
		f, err := call(b)
		if err != nil {
			return err
		}
		for range warmup {
			if err := f(); err != nil {
				return err
			}
		}
		row := Row{Batch: b}
		for range reps {
			runtime.GC()
			start := time.Now()
			deadline := start.Add(maxDur)
			n := 0
			for n < limit && (n == 0 || time.Now().Before(deadline)) {
				if err := f(); err != nil {
					return err
				}
				n++
			}
			secs := time.Since(start).Seconds()
			row.Reps = append(row.Reps, Rep{Calls: n, Seconds: secs, PerSec: float64(n) / secs, Images: float64(n*b) / secs})
		}
		perSec := make([]float64, len(row.Reps))
		for i, r := range row.Reps {
			perSec[i] = r.PerSec
		}
		row.MedianPerSec = median(perSec)
		row.MedianImages = row.MedianPerSec * float64(b)
		row.MedianMSCall = 1000 / row.MedianPerSec
		out.Rows = append(out.Rows, row)
		fmt.Fprintf(os.Stderr, "rawgo %s batch %d: %.1f calls/s, %.0f images/s (median of %d)\n",
			mode, b, row.MedianPerSec, row.MedianImages, reps)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
