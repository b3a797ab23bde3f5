package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The two IDX magics we accept; the third byte is the element type (0x08 =
// uint8) and the fourth the number of dimensions, so checking the whole word
// validates both at once.
const (
	magicLabels = 0x00000801 // uint8 [N]
	magicImages = 0x00000803 // uint8 [N, rows, cols]
)

// MaxBytes caps the payload of any one file (IDX or .npy) so that a header
// cannot make a reader allocate or read without bound.
const MaxBytes = 1 << 30

// IDX is one decoded uint8 IDX file: its dimensions and its row-major payload.
type IDX struct {
	Dims []int
	Data []uint8
}

// ReadIDX decodes a uint8 labels file ([N]) or images file ([N,28,28]) from
// r, gzipped or plain; gzip is detected by its magic bytes, not by a file
// name, because renamed files are common. name is only used in errors. The
// payload must be exactly the size the header declares: truncation and
// trailing bytes are both errors, since either means a corrupt download.
func ReadIDX(r io.Reader, name string) (*IDX, error) {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}

	var magic uint32
	if err := binary.Read(r, binary.BigEndian, &magic); err != nil {
		return nil, fmt.Errorf("dataset: %s: reading magic: %w", name, noEOF(err))
	}
	var ndims int
	switch magic {
	case magicLabels:
		ndims = 1
	case magicImages:
		ndims = 3
	default:
		return nil, fmt.Errorf("dataset: %s: bad IDX magic %#08x, want %#08x (labels) or %#08x (images)",
			name, magic, magicLabels, magicImages)
	}
	raw := make([]uint32, ndims)
	if err := binary.Read(r, binary.BigEndian, raw); err != nil {
		return nil, fmt.Errorf("dataset: %s: reading dims: %w", name, noEOF(err))
	}
	dims := make([]int, ndims)
	for i, d := range raw {
		dims[i] = int(d)
	}
	if ndims == 3 && (dims[1] != Rows || dims[2] != Cols) {
		return nil, fmt.Errorf("dataset: %s: images are %dx%d, want %dx%d", name, dims[1], dims[2], Rows, Cols)
	}
	size, err := payloadSize(dims)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", name, err)
	}
	data, err := readExact(r, size)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", name, err)
	}
	return &IDX{Dims: dims, Data: data}, nil
}

// readIDXFile is ReadIDX on a file, with the path in errors.
func readIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	return ReadIDX(f, path)
}

// payloadSize multiplies dims, refusing a product above MaxBytes; checking
// after each factor keeps the product from overflowing.
func payloadSize(dims []int) (int64, error) {
	size := int64(1)
	for _, d := range dims {
		size *= int64(d)
		if d < 0 || d > MaxBytes || size > MaxBytes {
			return 0, fmt.Errorf("declared shape %v exceeds %d bytes", dims, MaxBytes)
		}
	}
	return size, nil
}

// readExact reads exactly size bytes and then requires EOF. The buffer grows
// with the bytes that actually arrive rather than being allocated from the
// declared size, so a short hostile file cannot cost MaxBytes of memory.
func readExact(r io.Reader, size int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(size, 1<<20)))
	if n, err := io.CopyN(&buf, r, size); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("truncated payload: got %d of %d bytes", n, size)
		}
		return nil, err
	}
	var one [1]byte
	switch _, err := io.ReadFull(r, one[:]); {
	case err == nil:
		return nil, fmt.Errorf("trailing bytes after the %d-byte payload", size)
	case !errors.Is(err, io.EOF):
		// For gzip this is where a bad checksum or trailing garbage shows up.
		return nil, err
	}
	return buf.Bytes(), nil
}

// noEOF turns the EOFs of a short header into ErrUnexpectedEOF so the error
// says the file is truncated rather than looking like a clean end.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
