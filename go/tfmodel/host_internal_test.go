package tfmodel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ganhost/ganhost/go/gan"
)

// The concurrency cap is tested from inside the package: filling the slots directly makes the
// saturated state deterministic, where racing real requests would not be.
func TestGenerationCapAnswersUnavailable(t *testing.T) {
	base := t.TempDir()
	if err := os.CopyFS(filepath.Join(base, "1"), os.DirFS("testdata/tiny/1")); err != nil {
		t.Fatal(err)
	}
	h, err := OpenHost(HostConfig{Name: "gan", Base: base, MaxConcurrent: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	req := gan.GenerateRequest{N: 1, Scale: 1, Format: gan.FormatPNG}
	h.slots <- struct{}{}
	h.slots <- struct{}{}
	if _, err := h.Generate(context.Background(), req); gan.ErrorCode(err) != gan.EUNAVAILABLE {
		t.Fatalf("Generate at capacity: err=%v, want %s", err, gan.EUNAVAILABLE)
	}
	if _, _, err := h.Predict(context.Background(), gan.PredictRequest{}); gan.ErrorCode(err) != gan.EUNAVAILABLE {
		t.Fatalf("Predict at capacity: err=%v, want %s", err, gan.EUNAVAILABLE)
	}
	<-h.slots
	if _, err := h.Generate(context.Background(), req); err != nil {
		t.Fatalf("Generate with a free slot: %v", err)
	}
	if got := len(h.slots); got != 1 {
		t.Errorf("slots in use after the call=%d, want 1 (the call released its own)", got)
	}
}

func TestCapErrorSaysWhenToRetry(t *testing.T) {
	h := &Host{cfg: HostConfig{MaxConcurrent: 1}, slots: make(chan struct{}, 1)}
	h.slots <- struct{}{}
	_, err := h.takeSlot()
	var ge *gan.Error
	if !errors.As(err, &ge) || ge.RetryAfter <= 0 {
		t.Fatalf("err=%v, want an EUNAVAILABLE with RetryAfter", err)
	}
}
