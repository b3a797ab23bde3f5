package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// MustFixtureBase copies the tiny SavedModel (exported by `make fixture`) into a temporary
// model base path as version 1.
func MustFixtureBase(tb testing.TB) string {
	tb.Helper()
	base := tb.TempDir()
	if err := os.CopyFS(filepath.Join(base, "1"), os.DirFS("../../tfmodel/testdata/tiny/1")); err != nil {
		tb.Fatal(err)
	}
	return base
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestGenerateWritesGrid(t *testing.T) {
	base := MustFixtureBase(t)
	for _, tc := range []struct {
		name         string
		n, scale     int
		wantW, wantH int
	}{
		{"ok, n=1", 1, 1, 28, 28},
		{"ok, n=16", 16, 1, 112, 112},
		{"ok, n=17", 17, 1, 140, 112},
		{"ok, n=16 scale 2", 16, 2, 224, 224},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "g.png")
			code, stdout, stderr := runCLI(t, "generate", "-model-base", base, "-n", itoa(tc.n), "-scale", itoa(tc.scale), "-seed", "3", "-out", out)
			if code != 0 {
				t.Fatalf("exit=%d, want 0; stderr: %s", code, stderr)
			}
			if !strings.Contains(stdout, "version 1") {
				t.Errorf("stdout %q does not name the version", stdout)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cfg, err := png.DecodeConfig(f)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Width != tc.wantW || cfg.Height != tc.wantH {
				t.Errorf("size=%dx%d, want %dx%d", cfg.Width, cfg.Height, tc.wantW, tc.wantH)
			}
		})
	}
}

func TestGenerateIsDeterministicBySeed(t *testing.T) {
	base := MustFixtureBase(t)
	grid := func(seed string) string {
		code, stdout, stderr := runCLI(t, "generate", "-model-base", base, "-n", "4", "-seed", seed, "-out", "-")
		if code != 0 {
			t.Fatalf("exit=%d: %s", code, stderr)
		}
		return stdout
	}
	if grid("5") != grid("5") {
		t.Error("same seed gave different PNG bytes")
	}
	if grid("5") == grid("6") {
		t.Error("different seeds gave identical PNG bytes")
	}
}

func TestTrainSaveServesNewVersion(t *testing.T) {
	base := MustFixtureBase(t)
	before := generatePNG(t, base)
	code, stdout, stderr := runCLI(t, "train", "-model-base", base, "-data", repoData(t),
		"-steps", "20", "-batch", "8", "-seed", "1", "-log-every", "10", "-save")
	if code != 0 {
		t.Fatalf("exit=%d; stderr: %s", code, stderr)
	}
	for _, want := range []string{"step      10", "step      20", "saved version 2"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	// The progress bar goes to stderr, with the count and running losses.
	for _, want := range []string{"20/20", "d_loss", "steps/s"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress bar lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "2", "saved_model.pb")); err != nil {
		t.Fatalf("version 2 not written: %v", err)
	}
	if after := generatePNG(t, base); after == before {
		t.Error("version 2 generates the same grid as version 1")
	}
}

func TestGenerateJSONSummary(t *testing.T) {
	base := MustFixtureBase(t)
	code, stdout, stderr := runCLI(t, "generate", "-model-base", base, "-n", "3", "-seed", "9", "-out", filepath.Join(t.TempDir(), "g.png"), "-json")
	if code != 0 {
		t.Fatalf("exit=%d: %s", code, stderr)
	}
	var s struct {
		ModelVersion  int64 `json:"model_version"`
		Seed          int64 `json:"seed"`
		N, Width      int
		MeanIntensity []float64 `json:"mean_intensity"`
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if s.ModelVersion != 1 || s.Seed != 9 || s.N != 3 || s.Width != 56 || len(s.MeanIntensity) != 3 {
		t.Errorf("summary=%+v", s)
	}
	for _, m := range s.MeanIntensity {
		if m < 0 || m > 1 {
			t.Errorf("mean intensity %v out of 0..1", m)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	base := MustFixtureBase(t)
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"nok, no command", nil, 2, "Usage"},
		{"nok, unknown command", []string{"serve-all"}, 2, "unknown command"},
		{"nok, n=0", []string{"generate", "-model-base", base, "-n", "0"}, 2, "-n must be in 1..4096"},
		{"nok, scale 9", []string{"generate", "-model-base", base, "-scale", "9"}, 2, "-scale must be in 1..8"},
		{"nok, n=abc", []string{"generate", "-n", "abc"}, 2, "invalid value"},
		{"nok, batch 0", []string{"train", "-batch", "0"}, 2, "-batch must be in 1..1024"},
		{"nok, missing model", []string{"generate", "-model-base", filepath.Join(base, "nope")}, 1, "does not exist"},
		{"nok, missing data", []string{"train", "-model-base", base, "-data", filepath.Join(base, "nodata")}, 1, "nodata"},
		{"ok, help", []string{"-help"}, 0, "generate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit=%d, want %d; stderr: %s", code, tc.code, stderr)
			}
			if !strings.Contains(stdout+stderr, tc.contains) {
				t.Errorf("output lacks %q:\n%s%s", tc.contains, stdout, stderr)
			}
		})
	}
}

func generatePNG(t *testing.T, base string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, "generate", "-model-base", base, "-n", "4", "-seed", "1", "-out", "-")
	if code != 0 {
		t.Fatalf("generate exit=%d: %s", code, stderr)
	}
	return stdout
}

// repoData returns the MNIST digits `make data` prepares; training tests need real data.
func repoData(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../../data/mnist")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Skipf("%s missing: run `make data`", dir)
	}
	return dir
}

func itoa(n int) string { return strconv.Itoa(n) }
