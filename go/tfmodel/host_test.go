package tfmodel_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ganhost/ganhost/go/gan"
	"github.com/ganhost/ganhost/go/tfmodel"
)

// MustHost opens a Host on a copy of fixture.
func MustHost(tb testing.TB, fixture string, batch tfmodel.BatchConfig) *tfmodel.Host {
	tb.Helper()
	base := tb.TempDir()
	if err := os.CopyFS(filepath.Join(base, "1"), os.DirFS(fixture)); err != nil {
		tb.Fatal(err)
	}
	h, err := tfmodel.OpenHost(tfmodel.HostConfig{Name: "gan", Base: base, Batch: batch, MaxConcurrent: 64})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return h
}

// Batched requests must get exactly the images they get alone, whatever they are batched with.
func TestBatchingKeepsImagesIdentical(t *testing.T) {
	for _, fixture := range []string{fixtureDir, condFixtureDir} {
		t.Run(filepath.Base(filepath.Dir(fixture)), func(t *testing.T) {
			unbatched := MustHost(t, fixture, tfmodel.BatchConfig{})
			batched := MustHost(t, fixture, tfmodel.BatchConfig{MaxRows: 64, Timeout: 50 * time.Millisecond})
			conditional := unbatched.Status().Conditional
			var reqs []gan.GenerateRequest
			for i := range 24 {
				r := gan.GenerateRequest{N: 1 + i%7*3, Seed: int64(1000 + i), Scale: 1, Format: gan.FormatPNG}
				if conditional && i%2 == 0 {
					d := i % 10
					r.Digit = &d
				}
				reqs = append(reqs, r)
			}
			got := make([]gan.Images, len(reqs))
			errs := make([]error, len(reqs))
			var wg sync.WaitGroup
			for i, r := range reqs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], errs[i] = batched.Generate(context.Background(), r)
				}()
			}
			wg.Wait()
			for i, r := range reqs {
				if errs[i] != nil {
					t.Fatalf("request %d: %v", i, errs[i])
				}
				want, err := unbatched.Generate(context.Background(), r)
				if err != nil {
					t.Fatal(err)
				}
				if !equalBits(got[i].Pixels, want.Pixels) {
					t.Errorf("request %d (n=%d seed=%d): batched images differ from unbatched ones", i, r.N, r.Seed)
				}
			}
			if batches, rows := batched.BatchStats(); batches == 0 || rows <= int64(reqs[0].N) {
				t.Errorf("BatchStats=%d batches, %d rows: the concurrent requests were never coalesced", batches, rows)
			}
		})
	}
}

func TestBatchedPredictMatchesGenerate(t *testing.T) {
	h := MustHost(t, fixtureDir, tfmodel.BatchConfig{MaxRows: 32, Timeout: 20 * time.Millisecond})
	z := gan.Noise(5, 3)
	var wg sync.WaitGroup
	results := make([]map[string]gan.Tensor, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, err := h.Predict(context.Background(), gan.PredictRequest{Inputs: map[string]gan.Tensor{"z": {Shape: []int{3, 100}, Float32: z}}})
			if err != nil {
				t.Error(err)
			}
			results[i] = out
		}()
	}
	wg.Wait()
	want, err := h.Generate(context.Background(), gan.GenerateRequest{N: 3, Seed: 5, Scale: 1, Format: gan.FormatPNG})
	if err != nil {
		t.Fatal(err)
	}
	for i, out := range results {
		if !equalBits(out["images"].Float32, want.Pixels) {
			t.Errorf("predict %d differs from generate for the same z", i)
		}
	}
	// A bad predict in a batch fails alone.
	_, _, err = h.Predict(context.Background(), gan.PredictRequest{Inputs: map[string]gan.Tensor{"z": {Shape: []int{1, 7}, Float32: make([]float32, 7)}}})
	if gan.ErrorCode(err) != gan.EINVALID {
		t.Errorf("bad predict: err=%v, want EINVALID", err)
	}
}

func TestBatchingDigitOnUnconditionalFailsAlone(t *testing.T) {
	h := MustHost(t, fixtureDir, tfmodel.BatchConfig{MaxRows: 64, Timeout: 30 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := gan.GenerateRequest{N: 2, Seed: int64(i), Scale: 1, Format: gan.FormatPNG}
			if i == 3 {
				d := 3
				r.Digit = &d
			}
			_, errs[i] = h.Generate(context.Background(), r)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if wantErr := i == 3; (err != nil) != wantErr {
			t.Errorf("request %d: err=%v, want error=%v", i, err, wantErr)
		}
	}
	_ = fmt.Sprint()
}
