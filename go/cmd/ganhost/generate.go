package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/ganhost/ganhost/go/gan"
	"github.com/ganhost/ganhost/go/tfmodel"
)

func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate", stderr)
	base := fs.String("model-base", "savedmodel/gan", "model base path; its highest complete numeric version is used")
	n := fs.Int("n", 16, "number of images, 1..4096")
	seed := fs.Int64("seed", 1, "noise seed; the same seed and model version give the same images")
	scale := fs.Int("scale", 1, fmt.Sprintf("pixel scale factor, 1..%d", gan.MaxScale))
	out := fs.String("out", "grid.png", "output PNG file, or - for standard output")
	asJSON := fs.Bool("json", false, "print a JSON summary (model version, seed, n, size, per-image mean intensity) instead of the text line")
	digit := fs.Int("digit", -1, "digit 0..9 to generate (conditional models only); -1: digits drawn from -seed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n < 1 || *n > 4096 {
		return usageError{fmt.Sprintf("-n must be in 1..4096, got %d", *n)}
	}
	if *scale < 1 || *scale > gan.MaxScale {
		return usageError{fmt.Sprintf("-scale must be in 1..%d, got %d", gan.MaxScale, *scale)}
	}
	if *digit < -1 || *digit >= gan.NumClasses {
		return usageError{fmt.Sprintf("-digit must be in 0..%d (or -1 for any), got %d", gan.NumClasses-1, *digit)}
	}

	model, version, err := tfmodel.OpenLatest(*base)
	if err != nil {
		return err
	}
	defer model.Close()
	labels, err := gan.GenerateRequest{N: *n, Seed: *seed, Digit: digitOrNil(*digit)}.Labels(model.Conditional())
	if err != nil {
		return err
	}
	images, err := model.Generate(gan.Noise(*seed, *n), labels, *n)
	if err != nil {
		return err
	}
	grid, err := gan.Grid(images, *n, *scale)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := gan.EncodePNG(&buf, grid); err != nil {
		return err
	}
	if *out == "-" {
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	b := grid.Bounds()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(generateSummary{
			Out: *out, ModelBase: *base, ModelVersion: version, Seed: *seed, N: *n,
			Width: b.Dx(), Height: b.Dy(), Digit: digitOrNil(*digit), MeanIntensity: meanIntensities(images, *n),
		})
	}
	fmt.Fprintf(stdout, "wrote %s: %d images, %dx%d pixels, model %s version %d, seed %d\n",
		*out, *n, b.Dx(), b.Dy(), *base, version, *seed)
	return nil
}

// generateSummary is `ganhost generate -json`'s output.
type generateSummary struct {
	Out           string    `json:"out"`
	ModelBase     string    `json:"model_base"`
	ModelVersion  int64     `json:"model_version"`
	Seed          int64     `json:"seed"`
	N             int       `json:"n"`
	Digit         *int      `json:"digit"`
	Width         int       `json:"width"`
	Height        int       `json:"height"`
	MeanIntensity []float64 `json:"mean_intensity"` // per image, 0 (black) .. 1 (white): a quick sanity check
}

func digitOrNil(d int) *int {
	if d < 0 {
		return nil
	}
	return &d
}

func meanIntensities(images []float32, n int) []float64 {
	out := make([]float64, n)
	for i := range n {
		var sum float64
		for _, v := range images[i*gan.ImagePixels : (i+1)*gan.ImagePixels] {
			sum += (float64(v) + 1) / 2
		}
		out[i] = math.Round(sum/gan.ImagePixels*1000) / 1000
	}
	return out
}
