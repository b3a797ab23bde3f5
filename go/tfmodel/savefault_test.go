package tfmodel_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ganhost/ganhost/go/gan"
	"github.com/ganhost/ganhost/go/tfmodel"
)

// A save that the file system refuses (full, over the file size limit, read-only) fails with an
// error that says so, and loses nothing: the served version and its images are untouched, no
// partial version appears, the trained steps stay in memory, and once the fault is gone a save
// writes them. Each fault is real kernel behaviour, not a mocked writer. The file size limit
// (EFBIG) works everywhere; a full tmpfs (ENOSPC inside TensorFlow's checkpoint writer) and a
// read-only bind mount need mount privileges (root in CI's containers) and are skipped without.
func TestSaveFaultsLoseNothing(t *testing.T) {
	faults := []struct {
		name    string
		inject  func(t *testing.T, base string) (undo func())
		want    string // in the error message
		ownProc bool   // the fault applies to the whole process: run the case in a child
	}{
		{"file size limit", limitFileSize, "file size limit", true},
		{"disk full", fillDisk, "disk is full", false},
		{"read-only", makeReadOnly, "read-only", false},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			if f.ownProc && os.Getenv(faultChildEnv) == "" {
				runInChild(t)
				return
			}
			base := filepath.Join(t.TempDir(), "gan")
			if err := os.Mkdir(base, 0o755); err != nil {
				t.Fatal(err)
			}
			// The fault may mount over base, so the host opens after it is in place; the mount
			// must outlive the host (cleanups run last-registered first).
			undo := f.inject(t, base)
			undone := false
			t.Cleanup(func() {
				if !undone {
					undo()
				}
			})
			h, err := tfmodel.OpenHost(tfmodel.HostConfig{Name: "gan", Base: base, Dataset: mustTinyDataset(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close() })
			ctx := context.Background()
			if _, err := h.Train(ctx, gan.TrainRequest{Steps: 3, BatchSize: 4}); err != nil {
				t.Fatal(err)
			}
			req := gan.GenerateRequest{N: 4, Seed: 11, Scale: 1, Format: gan.FormatPNG}
			before, _ := h.Generate(ctx, req)
			st := h.Status()

			_, err = h.SaveVersion(ctx)
			if err == nil || !strings.Contains(gan.ErrorMessage(err), f.want) || !strings.Contains(gan.ErrorMessage(err), base) {
				t.Fatalf("save under fault: err=%v, want a message naming %s and %q", err, base, f.want)
			}
			t.Logf("error: %v", err)
			after := h.Status()
			if after.ServedVersion != 1 || !slices.Equal(after.Versions, []int64{1}) || after.UnsavedSteps != st.UnsavedSteps || after.Step != st.Step {
				t.Errorf("after the failed save: served %d, versions %v, unsaved %d, step %d; want 1, [1], %d, %d",
					after.ServedVersion, after.Versions, after.UnsavedSteps, after.Step, st.UnsavedSteps, st.Step)
			}
			if got, err := h.Generate(ctx, req); err != nil || !equalBits(got.Pixels, before.Pixels) {
				t.Errorf("served images changed after the failed save (err %v)", err)
			}
			if entries, _ := os.ReadDir(base); len(entries) != 1 {
				t.Errorf("base path holds %v after the failed save, want only version 1", entries)
			}

			undo()
			undone = true
			info, err := h.SaveVersion(ctx)
			if err != nil || info.Version != 2 || info.Step != st.Step {
				t.Fatalf("save after the fault was removed: %+v, %v; want version 2 at step %d", info, err, st.Step)
			}
			if h.Status().UnsavedSteps != 0 {
				t.Errorf("unsaved steps=%d after a successful save", h.Status().UnsavedSteps)
			}
			// Version 2 holds the steps trained before the failed save: it generates what the
			// training state generates, which is not what version 1 generates.
			saved, err := tfmodel.Open(tfmodel.VersionDir(base, 2))
			if err != nil {
				t.Fatal(err)
			}
			defer saved.Close()
			z := gan.Noise(5, 4)
			if v1 := MustGenerate(t, mustOpen(t, filepath.Join(base, "1")), z, 4); equalBits(MustGenerate(t, saved, z, 4), v1) {
				t.Error("version 2 generates exactly what version 1 does: the trained steps were lost")
			}
		})
	}
}

// faultChildEnv marks the child process that runInChild starts.
const faultChildEnv = "GANHOST_SAVEFAULT_CHILD"

// runInChild runs the current test alone in a child copy of the test binary. A file size limit
// binds the whole process, including the testing package's own log of file accesses (which `go
// test` asks for when caching results): that log failed with "file too large" once it outgrew
// the limit while the case ran. The child is started without that log.
func runInChild(t *testing.T) {
	var pattern []string
	for _, part := range strings.Split(t.Name(), "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(pattern, "/"), "-test.v")
	cmd.Env = append(os.Environ(), faultChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the case failed in its child process (%v):\n%s", err, out)
	}
	t.Logf("passed in a child process:\n%s", out)
}

// limitFileSize sets RLIMIT_FSIZE so that any file this process writes past 64 KiB fails with
// EFBIG (the kernel sends SIGXFSZ first, which is ignored here so the write returns the error).
func limitFileSize(t *testing.T, base string) func() {
	copyFixture(t, base)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	signal.Ignore(syscall.SIGXFSZ)
	limited := syscall.Rlimit{Cur: 64 << 10, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limited); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatal(err)
		}
		signal.Reset(syscall.SIGXFSZ)
	}
}

// fillDisk mounts a tmpfs over base with room for version 1 and the next version's
// saved_model.pb but not its variables, so the failure comes from TensorFlow's writer.
func fillDisk(t *testing.T, base string) func() {
	pb, err := os.Stat(filepath.Join(fixtureDir, "saved_model.pb"))
	if err != nil {
		t.Fatal(err)
	}
	size := 2*pb.Size() + 256<<10 // version 1 (pb + ~190 KiB of variables) + a pb, short of variables
	if err := syscall.Mount("tmpfs", base, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs (needs privileges): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(base, syscall.MNT_DETACH) }) // after the host closes
	copyFixture(t, base)
	return func() {
		// "Freeing space": the mount grows, as an operator would free or add disk.
		if err := syscall.Mount("tmpfs", base, "tmpfs", syscall.MS_REMOUNT, "size=64m"); err != nil {
			t.Fatal(err)
		}
	}
}

// makeReadOnly bind-mounts base read-only over itself (EROFS even for root); without mount
// privileges, as a non-root user, it removes write permission instead (EACCES).
func makeReadOnly(t *testing.T, base string) func() {
	copyFixture(t, base)
	if err := syscall.Mount(base, base, "", syscall.MS_BIND, ""); err == nil {
		if err := syscall.Mount("", base, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
			syscall.Unmount(base, 0)
			t.Fatal(err)
		}
		return func() {
			if err := syscall.Unmount(base, syscall.MNT_DETACH); err != nil {
				t.Fatal(err)
			}
		}
	}
	if os.Geteuid() == 0 {
		t.Skip("running as root without mount privileges: cannot make a directory read-only")
	}
	if err := os.Chmod(base, 0o555); err != nil {
		t.Fatal(err)
	}
	return func() { os.Chmod(base, 0o755) }
}

func copyFixture(t *testing.T, base string) {
	if err := os.CopyFS(filepath.Join(base, "1"), os.DirFS(fixtureDir)); err != nil {
		t.Fatal(err)
	}
}

func mustOpen(t *testing.T, dir string) *tfmodel.Model {
	m, err := tfmodel.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
