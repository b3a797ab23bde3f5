package dataset_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ganhost/ganhost/go/dataset"
	"github.com/ganhost/ganhost/go/internal/fuzzguard"
)

// idxBytes encodes an IDX file with the given magic and dims around data,
// gzipped when gz is set. It does not check that data matches dims, so tests
// can build broken files.
func idxBytes(tb testing.TB, magic uint32, dims []uint32, data []byte, gz bool) []byte {
	tb.Helper()
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	binary.Write(&b, binary.BigEndian, dims)
	b.Write(data)
	if !gz {
		return b.Bytes()
	}
	return gzipBytes(tb, b.Bytes())
}

// gzipBytes gzips b.
func gzipBytes(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return z.Bytes()
}

// imagePixels returns n images where image k is filled with byte k, so a
// test can tell them apart.
func imagePixels(n int) []byte {
	b := make([]byte, n*dataset.Pixels)
	for k := range n {
		for j := range dataset.Pixels {
			b[k*dataset.Pixels+j] = byte(k)
		}
	}
	return b
}

func TestReadIDX(t *testing.T) {
	const labels, images = 0x00000801, 0x00000803
	valid := idxBytes(t, labels, []uint32{3}, []byte{1, 2, 3}, false)
	tests := []struct {
		name     string
		file     []byte
		wantDims []int
		wantData []byte
		wantErr  string
	}{
		{name: "ok, plain labels", file: valid, wantDims: []int{3}, wantData: []byte{1, 2, 3}},
		{name: "ok, gzipped labels", file: idxBytes(t, labels, []uint32{3}, []byte{1, 2, 3}, true), wantDims: []int{3}, wantData: []byte{1, 2, 3}},
		{name: "ok, plain images", file: idxBytes(t, images, []uint32{2, 28, 28}, imagePixels(2), false), wantDims: []int{2, 28, 28}, wantData: imagePixels(2)},
		{name: "ok, gzipped images", file: idxBytes(t, images, []uint32{2, 28, 28}, imagePixels(2), true), wantDims: []int{2, 28, 28}, wantData: imagePixels(2)},
		{name: "ok, zero labels", file: idxBytes(t, labels, []uint32{0}, nil, false), wantDims: []int{0}, wantData: []byte{}},
		{name: "nok, empty file", file: nil, wantErr: "reading magic"},
		{name: "nok, bad magic", file: idxBytes(t, 0x00000802, []uint32{3}, []byte{1, 2, 3}, false), wantErr: "bad IDX magic"},
		{name: "nok, float element type", file: idxBytes(t, 0x00000d01, []uint32{1}, []byte{0, 0, 0, 0}, false), wantErr: "bad IDX magic"},
		{name: "nok, gzipped bad magic", file: idxBytes(t, 0x12345678, []uint32{3}, []byte{1, 2, 3}, true), wantErr: "bad IDX magic"},
		{name: "nok, truncated dims", file: valid[:6], wantErr: "reading dims"},
		{name: "nok, images not 28x28", file: idxBytes(t, images, []uint32{1, 27, 29}, make([]byte, 27*29), false), wantErr: "images are 27x29"},
		{name: "nok, truncated payload", file: valid[:len(valid)-1], wantErr: "truncated payload: got 2 of 3 bytes"},
		{name: "nok, gzipped truncated payload", file: idxBytes(t, labels, []uint32{3}, []byte{1, 2}, true), wantErr: "truncated payload"},
		{name: "nok, trailing bytes", file: append(bytes.Clone(valid), 0), wantErr: "trailing bytes"},
		{name: "nok, gzipped trailing bytes", file: idxBytes(t, labels, []uint32{3}, []byte{1, 2, 3, 4}, true), wantErr: "trailing bytes"},
		{name: "nok, garbage after gzip stream", file: append(idxBytes(t, labels, []uint32{3}, []byte{1, 2, 3}, true), "not gzip, not IDX"...), wantErr: "gzip: invalid header"},
		{name: "nok, truncated gzip stream", file: func() []byte { z := idxBytes(t, labels, []uint32{3}, []byte{1, 2, 3}, true); return z[:len(z)-4] }(), wantErr: "unexpected EOF"},
		{name: "nok, huge image count", file: idxBytes(t, images, []uint32{1 << 21, 28, 28}, nil, false), wantErr: "exceeds"},
		{name: "nok, huge label count", file: idxBytes(t, labels, []uint32{0xffffffff}, nil, false), wantErr: "exceeds"},
		// Under the cap but far beyond the data: must fail as truncated
		// without allocating the declared size.
		{name: "nok, large declared count, no data", file: idxBytes(t, labels, []uint32{1 << 29}, []byte{1}, false), wantErr: "truncated payload: got 1 of 536870912 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dataset.ReadIDX(bytes.NewReader(tt.file), "some.idx")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "some.idx") {
					t.Fatalf("got %v, want an error naming some.idx and containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if !slices.Equal(got.Dims, tt.wantDims) {
				t.Errorf("got dims %v, want %v", got.Dims, tt.wantDims)
			}
			if !bytes.Equal(got.Data, tt.wantData) {
				t.Errorf("got data %v, want %v", got.Data, tt.wantData)
			}
		})
	}
}

// FuzzReadIDX: no file may panic, hang, return data that disagrees with its dims, or make the
// reader allocate more than a bound linear in the bytes the file really holds
// (wantBoundedAlloc), so that a header declaring a huge count costs nothing until the bytes
// arrive. Its seed corpus is committed under testdata/fuzz/FuzzReadIDX/.
func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes(f, 0x00000801, []uint32{3}, []byte{1, 2, 3}, false))
	f.Add(idxBytes(f, 0x00000801, []uint32{3}, []byte{1, 2, 3}, true))
	f.Add(idxBytes(f, 0x00000803, []uint32{1, 28, 28}, imagePixels(1), false))
	f.Add(idxBytes(f, 0x00000803, []uint32{1, 28, 28}, imagePixels(1), true))
	f.Add(idxBytes(f, 0x00000801, []uint32{1 << 29}, []byte{1}, false))
	f.Add(idxBytes(f, 0x00000803, []uint32{1 << 20, 28, 28}, []byte{1}, true))
	f.Fuzz(func(t *testing.T, file []byte) {
		defer fuzzguard.Watchdog(5*time.Second, file)()
		var got *dataset.IDX
		var err error
		wantBoundedAlloc(t, plainLen(file), func() { got, err = dataset.ReadIDX(bytes.NewReader(file), "fuzz") })
		if err != nil {
			return
		}
		size := 1
		for _, d := range got.Dims {
			size *= d
		}
		if len(got.Data) != size {
			t.Fatalf("got %d bytes, want %d for dims %v", len(got.Data), size, got.Dims)
		}
	})
}

// plainLen is how many bytes file holds once gunzipped (as ReadIDX sees it), capped at MaxBytes.
func plainLen(file []byte) int {
	zr, err := gzip.NewReader(bytes.NewReader(file))
	if err != nil {
		return len(file)
	}
	n, _ := io.Copy(io.Discard, io.LimitReader(zr, dataset.MaxBytes))
	return max(int(n), len(file))
}

// wantBoundedAlloc runs fn and fails when the process allocated more than 4 MiB (the reader's
// 1 MiB head start on the payload buffer, twice that under -race, plus gzip and bufio state)
// plus 4 bytes per byte of content meanwhile (the payload buffer as it doubles). TotalAlloc is
// process-wide, but a fuzz worker runs one input at a time.
func wantBoundedAlloc(t *testing.T, contentLen int, fn func()) {
	t.Helper()
	fuzzguard.BoundedAlloc(t, 4<<20, 4, contentLen, fn)
}
