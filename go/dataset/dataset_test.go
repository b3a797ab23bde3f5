package dataset_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ganhost/ganhost/go/dataset"
)

// MustWriteFile writes b to dir/name and returns its path.
func MustWriteFile(tb testing.TB, dir, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// labelBytes returns n labels k%10, matching imagePixels.
func labelBytes(n int) []byte {
	b := make([]byte, n)
	for k := range b {
		b[k] = byte(k % 10)
	}
	return b
}

// MustWriteIDXSplit writes prefix-images-idx3-ubyte and
// prefix-labels-idx1-ubyte (with .gz when gz is set) holding nImages images
// and nLabels labels into dir.
func MustWriteIDXSplit(tb testing.TB, dir, prefix string, nImages, nLabels int, gz bool) {
	tb.Helper()
	ext := ""
	if gz {
		ext = ".gz"
	}
	MustWriteFile(tb, dir, prefix+"-images-idx3-ubyte"+ext,
		idxBytes(tb, 0x00000803, []uint32{uint32(nImages), 28, 28}, imagePixels(nImages), gz))
	MustWriteFile(tb, dir, prefix+"-labels-idx1-ubyte"+ext,
		idxBytes(tb, 0x00000801, []uint32{uint32(nLabels)}, labelBytes(nLabels), gz))
}

// npyHeader is the header dict numpy writes for a C-ordered array.
func npyHeader(descr, shape string) string {
	return fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
}

// npyBytes encodes a .npy file of the given format version (major.0) around
// header and data, padding the header as numpy does.
func npyBytes(major byte, header string, data []byte) []byte {
	lenSize := 2
	if major >= 2 {
		lenSize = 4
	}
	pre := 6 + 2 + lenSize
	header += strings.Repeat(" ", 63-(pre+len(header))%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.Write([]byte{major, 0})
	if lenSize == 2 {
		binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(header)))
	}
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

// mnistNPZ returns the entries of an mnist.npz holding n images and labels
// for both splits.
func mnistNPZ(n int) map[string][]byte {
	return map[string][]byte{
		"x_train.npy": npyBytes(1, npyHeader("|u1", fmt.Sprintf("(%d, 28, 28)", n)), imagePixels(n)),
		"y_train.npy": npyBytes(1, npyHeader("|u1", fmt.Sprintf("(%d,)", n)), labelBytes(n)),
		"x_test.npy":  npyBytes(1, npyHeader("|u1", fmt.Sprintf("(%d, 28, 28)", n)), imagePixels(n)),
		"y_test.npy":  npyBytes(1, npyHeader("|u1", fmt.Sprintf("(%d,)", n)), labelBytes(n)),
	}
}

// MustWriteNPZ writes entries as a zip at dir/name using method (zip.Store
// as np.savez, zip.Deflate as np.savez_compressed) and returns its path.
func MustWriteNPZ(tb testing.TB, dir, name string, entries map[string][]byte, method uint16) string {
	tb.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, data := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return MustWriteFile(tb, dir, name, b.Bytes())
}

func TestLoadSplit(t *testing.T) {
	// with returns mnistNPZ(5) with entry name replaced by data.
	with := func(name string, data []byte) map[string][]byte {
		e := mnistNPZ(5)
		e[name] = data
		return e
	}
	tests := []struct {
		name    string
		setup   func(tb testing.TB, dir string) string // returns the path to load
		split   string
		wantLen int
		wantErr string
	}{
		{name: "ok, plain IDX", split: "train", wantLen: 5, setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 5, 5, false)
			return dir
		}},
		{name: "ok, gzipped IDX", split: "train", wantLen: 5, setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 5, 5, true)
			return dir
		}},
		{name: "ok, .gz preferred over plain", split: "train", wantLen: 5, setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 3, 3, false)
			MustWriteIDXSplit(tb, dir, "train", 5, 5, true)
			return dir
		}},
		{name: "ok, gzipped content under a plain name", split: "train", wantLen: 5, setup: func(tb testing.TB, dir string) string {
			MustWriteFile(tb, dir, "train-images-idx3-ubyte", idxBytes(tb, 0x00000803, []uint32{5, 28, 28}, imagePixels(5), true))
			MustWriteFile(tb, dir, "train-labels-idx1-ubyte", idxBytes(tb, 0x00000801, []uint32{5}, labelBytes(5), false))
			return dir
		}},
		{name: "ok, IDX test split", split: "test", wantLen: 4, setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 5, 5, true)
			MustWriteIDXSplit(tb, dir, "t10k", 4, 4, true)
			return dir
		}},
		{name: "ok, npz train", split: "train", wantLen: 5, setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", mnistNPZ(5), zip.Store)
		}},
		{name: "ok, compressed npz test", split: "test", wantLen: 5, setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", mnistNPZ(5), zip.Deflate)
		}},
		{name: "ok, npy version 2.0", split: "train", wantLen: 5, setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", with("x_train.npy", npyBytes(2, npyHeader("|u1", "(5, 28, 28)"), imagePixels(5))), zip.Store)
		}},
		{name: "nok, unknown split", split: "validation", wantErr: `unknown split "validation"`, setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 5, 5, true)
			return dir
		}},
		{name: "nok, missing path", split: "train", wantErr: "no such file", setup: func(tb testing.TB, dir string) string {
			return filepath.Join(dir, "nope")
		}},
		{name: "nok, missing labels file", split: "train", wantErr: "no train-labels-idx1-ubyte(.gz)", setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 5, 5, true)
			os.Remove(filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
			return dir
		}},
		{name: "nok, missing test files", split: "test", wantErr: "no t10k-images-idx3-ubyte(.gz)", setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 5, 5, true)
			return dir
		}},
		{name: "nok, IDX count mismatch", split: "train", wantErr: "5 images (train-images-idx3-ubyte) but 4 labels", setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 5, 4, true)
			return dir
		}},
		{name: "nok, labels file under the images name", split: "train", wantErr: "not an images file", setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 5, 5, false)
			MustWriteFile(tb, dir, "train-images-idx3-ubyte", idxBytes(tb, 0x00000801, []uint32{5}, labelBytes(5), false))
			return dir
		}},
		{name: "nok, bad magic names the file", split: "train", wantErr: "train-images-idx3-ubyte.gz: bad IDX magic", setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 5, 5, true)
			MustWriteFile(tb, dir, "train-images-idx3-ubyte.gz", idxBytes(tb, 0xdeadbeef, []uint32{5, 28, 28}, imagePixels(5), true))
			return dir
		}},
		{name: "nok, truncated images names the file", split: "train", wantErr: "train-images-idx3-ubyte: truncated payload", setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 5, 5, false)
			MustWriteFile(tb, dir, "train-images-idx3-ubyte", idxBytes(tb, 0x00000803, []uint32{5, 28, 28}, imagePixels(4), false))
			return dir
		}},
		{name: "nok, label out of range", split: "train", wantErr: "label 10 at index 2", setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 5, 5, false)
			MustWriteFile(tb, dir, "train-labels-idx1-ubyte", idxBytes(tb, 0x00000801, []uint32{5}, []byte{0, 1, 10, 3, 4}, false))
			return dir
		}},
		{name: "nok, empty split", split: "train", wantErr: "train split is empty", setup: func(tb testing.TB, dir string) string {
			MustWriteIDXSplit(tb, dir, "train", 0, 0, false)
			return dir
		}},
		{name: "nok, not a directory or zip", split: "train", wantErr: "neither a directory of IDX files nor an .npz archive", setup: func(tb testing.TB, dir string) string {
			return MustWriteFile(tb, dir, "mnist.npz", []byte("not a zip"))
		}},
		{name: "nok, npz count mismatch", split: "train", wantErr: "5 images (x_train) but 4 labels (y_train)", setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", with("y_train.npy", npyBytes(1, npyHeader("|u1", "(4,)"), labelBytes(4))), zip.Store)
		}},
		{name: "nok, npz missing entry", split: "train", wantErr: "y_train.npy", setup: func(tb testing.TB, dir string) string {
			e := mnistNPZ(5)
			delete(e, "y_train.npy")
			return MustWriteNPZ(tb, dir, "mnist.npz", e, zip.Store)
		}},
		{name: "nok, npy float32", split: "train", wantErr: "x_train.npy: .npy dtype is not uint8", setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", with("x_train.npy", npyBytes(1, npyHeader("<f4", "(5, 28, 28)"), make([]byte, 5*784*4))), zip.Store)
		}},
		{name: "nok, npy int64 labels", split: "train", wantErr: "y_train.npy: .npy dtype is not uint8", setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", with("y_train.npy", npyBytes(1, npyHeader("<i8", "(5,)"), make([]byte, 5*8))), zip.Store)
		}},
		{name: "nok, npy fortran order", split: "train", wantErr: "not C-ordered", setup: func(tb testing.TB, dir string) string {
			h := "{'descr': '|u1', 'fortran_order': True, 'shape': (5, 28, 28), }"
			return MustWriteNPZ(tb, dir, "mnist.npz", with("x_train.npy", npyBytes(1, h, imagePixels(5))), zip.Store)
		}},
		{name: "nok, npy version 3.0", split: "train", wantErr: "unsupported .npy version 3.0", setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", with("x_train.npy", npyBytes(3, npyHeader("|u1", "(5, 28, 28)"), imagePixels(5))), zip.Store)
		}},
		{name: "nok, npy bad magic", split: "train", wantErr: "bad .npy magic", setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", with("x_train.npy", []byte("NOTNUMPYATALL")), zip.Store)
		}},
		{name: "nok, npy images not 28x28", split: "train", wantErr: "has shape [5 28], want [N 28 28]", setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", with("x_train.npy", npyBytes(1, npyHeader("|u1", "(5, 28)"), imagePixels(5)[:5*28])), zip.Store)
		}},
		{name: "nok, npy huge shape", split: "train", wantErr: "exceeds", setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", with("x_train.npy", npyBytes(1, npyHeader("|u1", "(2000000, 28, 28)"), nil)), zip.Store)
		}},
		{name: "nok, npy truncated", split: "train", wantErr: "x_train.npy: truncated payload", setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", with("x_train.npy", npyBytes(1, npyHeader("|u1", "(5, 28, 28)"), imagePixels(4))), zip.Deflate)
		}},
		{name: "nok, npy trailing bytes", split: "train", wantErr: "y_train.npy: trailing bytes", setup: func(tb testing.TB, dir string) string {
			return MustWriteNPZ(tb, dir, "mnist.npz", with("y_train.npy", npyBytes(1, npyHeader("|u1", "(5,)"), labelBytes(6))), zip.Store)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.setup(t, t.TempDir())
			got, err := dataset.LoadSplit(path, tt.split)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if got.Len() != tt.wantLen {
				t.Errorf("got Len %d, want %d", got.Len(), tt.wantLen)
			}
			if !bytes.Equal(got.Images, imagePixels(tt.wantLen)) {
				t.Errorf("got images that differ from the ones written")
			}
			if !bytes.Equal(got.Labels, labelBytes(tt.wantLen)) {
				t.Errorf("got labels %v, want %v", got.Labels, labelBytes(tt.wantLen))
			}
		})
	}
}

func TestLoadIsTrainSplit(t *testing.T) {
	dir := t.TempDir()
	MustWriteIDXSplit(t, dir, "train", 5, 5, true)
	MustWriteIDXSplit(t, dir, "t10k", 4, 4, true)
	got, err := dataset.Load(dir)
	if err != nil {
		t.Fatalf("got %v, want no error", err)
	}
	if got.Len() != 5 {
		t.Errorf("got Len %d, want %d", got.Len(), 5)
	}
}

// MustRepoRoot walks up from the working directory to the one holding go.mod.
func MustRepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// TestLoadRealData checks the MNIST subset the repository ships, when it is
// there; it is produced separately, so its absence is not a failure.
func TestLoadRealData(t *testing.T) {
	dir := filepath.Join(MustRepoRoot(t), "data", "mnist")
	if _, err := os.Stat(filepath.Join(dir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("no real MNIST data: %v", err)
	}
	tests := []struct {
		name    string
		split   string
		wantLen int
	}{
		{name: "ok, train", split: "train", wantLen: 8000},
		{name: "ok, test", split: "test", wantLen: 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dataset.LoadSplit(dir, tt.split)
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if got.Len() != tt.wantLen {
				t.Errorf("got Len %d, want %d", got.Len(), tt.wantLen)
			}
			var seen [10]bool
			for _, l := range got.Labels {
				seen[l] = true
			}
			for d, ok := range seen {
				if !ok {
					t.Errorf("got no image of digit %d, want all of 0..9", d)
				}
			}
		})
	}
}
