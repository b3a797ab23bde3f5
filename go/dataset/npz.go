package dataset

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// maxNpyHeader bounds the header length a file may declare; numpy writes
// well under 1 KiB.
const maxNpyHeader = 1 << 16

// The header is a Python dict literal. We need three keys and accept one
// spelling of each value, so regexps are enough; anything they do not match
// is refused rather than guessed at.
var (
	npyDescr   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// readNPZ reads the uint8 arrays x and y (e.g. "x_train", "y_train") from a
// Keras-style .npz archive at path.
func readNPZ(path, x, y string) (images, labels *IDX, err error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %s: neither a directory of IDX files nor an .npz archive: %w", path, err)
	}
	defer zr.Close()
	if images, err = readNPZEntry(zr, path, x); err != nil {
		return nil, nil, err
	}
	if labels, err = readNPZEntry(zr, path, y); err != nil {
		return nil, nil, err
	}
	if len(images.Dims) != 3 || images.Dims[1] != Rows || images.Dims[2] != Cols {
		return nil, nil, fmt.Errorf("dataset: %s: %s has shape %v, want [N %d %d]", path, x, images.Dims, Rows, Cols)
	}
	if len(labels.Dims) != 1 {
		return nil, nil, fmt.Errorf("dataset: %s: %s has shape %v, want [N]", path, y, labels.Dims)
	}
	return images, labels, nil
}

// readNPZEntry finds name.npy in the archive and decodes it.
func readNPZEntry(zr *zip.ReadCloser, path, name string) (*IDX, error) {
	f, err := zr.Open(name + ".npy")
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	defer f.Close()
	a, err := readNPY(f)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %s.npy: %w", path, name, err)
	}
	return a, nil
}

// readNPY decodes a C-ordered uint8 .npy array, format version 1.0 or 2.0.
func readNPY(r io.Reader) (*IDX, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("reading .npy preamble: %w", noEOF(err))
	}
	if string(pre[:6]) != npyMagic {
		return nil, fmt.Errorf("bad .npy magic %q", pre[:6])
	}
	var hlen int
	switch v := [2]byte{pre[6], pre[7]}; v {
	case [2]byte{1, 0}:
		var n uint16
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return nil, fmt.Errorf("reading .npy header length: %w", noEOF(err))
		}
		hlen = int(n)
	case [2]byte{2, 0}:
		var n uint32
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return nil, fmt.Errorf("reading .npy header length: %w", noEOF(err))
		}
		if n > maxNpyHeader {
			return nil, fmt.Errorf(".npy header length %d exceeds %d", n, maxNpyHeader)
		}
		hlen = int(n)
	default:
		return nil, fmt.Errorf("unsupported .npy version %d.%d, want 1.0 or 2.0", v[0], v[1])
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("reading .npy header: %w", noEOF(err))
	}
	header := string(bytes.TrimRight(hb, " \n"))

	descr := npyDescr.FindStringSubmatch(header)
	if descr == nil || descr[1] != "|u1" {
		return nil, fmt.Errorf(".npy dtype is not uint8 ('|u1'): header %q", header)
	}
	fortran := npyFortran.FindStringSubmatch(header)
	if fortran == nil || fortran[1] != "False" {
		return nil, fmt.Errorf(".npy is not C-ordered ('fortran_order': False): header %q", header)
	}
	shape := npyShape.FindStringSubmatch(header)
	if shape == nil {
		return nil, fmt.Errorf(".npy header has no shape: %q", header)
	}
	var dims []int
	for _, s := range strings.Split(shape[1], ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue // "(8000,)" is a 1-tuple
		}
		d, err := strconv.ParseUint(s, 10, 31)
		if err != nil {
			return nil, fmt.Errorf(".npy shape %q: %w", shape[1], err)
		}
		dims = append(dims, int(d))
	}
	size, err := payloadSize(dims)
	if err != nil {
		return nil, err
	}
	data, err := readExact(r, size)
	if err != nil {
		return nil, err
	}
	return &IDX{Dims: dims, Data: data}, nil
}
