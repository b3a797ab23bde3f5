// Package dataset loads MNIST from IDX files or a Keras mnist.npz and samples
// training batches from it. It uses the standard library only and treats its
// input files as untrusted: every size comes from a header that is checked
// before it is believed.
package dataset

import (
	"fmt"
	"os"
	"path/filepath"
)

// Rows and Cols are the MNIST image size; Pixels is their product.
const (
	Rows   = 28
	Cols   = 28
	Pixels = Rows * Cols
)

// Dataset is a set of labelled MNIST images held in memory.
type Dataset struct {
	// Images holds Len()*Pixels bytes, image after image, each row-major.
	Images []uint8
	// Labels holds one digit 0..9 per image.
	Labels []uint8
}

// Len returns the number of images.
func (d *Dataset) Len() int { return len(d.Labels) }

// Load is LoadSplit(path, "train").
func Load(path string) (*Dataset, error) { return LoadSplit(path, "train") }

// LoadSplit loads the "train" or "test" split from path, which is either a
// directory holding the standard IDX files (train-* or t10k-*, the .gz form
// preferred when both exist) or a Keras-style mnist.npz (x_train/y_train or
// x_test/y_test).
func LoadSplit(path, split string) (*Dataset, error) {
	var prefix, x, y string
	switch split {
	case "train":
		prefix, x, y = "train", "x_train", "y_train"
	case "test":
		prefix, x, y = "t10k", "x_test", "y_test"
	default:
		return nil, fmt.Errorf("dataset: unknown split %q, want \"train\" or \"test\"", split)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var images, labels *IDX
	var imagesName, labelsName string
	if fi.IsDir() {
		imagesName, labelsName = prefix+"-images-idx3-ubyte", prefix+"-labels-idx1-ubyte"
		if images, err = readIDXIn(path, imagesName); err != nil {
			return nil, err
		}
		if labels, err = readIDXIn(path, labelsName); err != nil {
			return nil, err
		}
		if len(images.Dims) != 3 {
			return nil, fmt.Errorf("dataset: %s: %s is not an images file (shape %v)", path, imagesName, images.Dims)
		}
		if len(labels.Dims) != 1 {
			return nil, fmt.Errorf("dataset: %s: %s is not a labels file (shape %v)", path, labelsName, labels.Dims)
		}
	} else {
		imagesName, labelsName = x, y
		if images, labels, err = readNPZ(path, x, y); err != nil {
			return nil, err
		}
	}
	if images.Dims[0] != labels.Dims[0] {
		return nil, fmt.Errorf("dataset: %s: %d images (%s) but %d labels (%s)",
			path, images.Dims[0], imagesName, labels.Dims[0], labelsName)
	}
	if images.Dims[0] == 0 {
		return nil, fmt.Errorf("dataset: %s: %s split is empty", path, split)
	}
	// Labels index one-hot vectors downstream, so an out-of-range digit must
	// stop here rather than become an index panic later.
	for i, l := range labels.Data {
		if l > 9 {
			return nil, fmt.Errorf("dataset: %s: %s: label %d at index %d, want 0..9", path, labelsName, l, i)
		}
	}
	return &Dataset{Images: images.Data, Labels: labels.Data}, nil
}

// readIDXIn reads name.gz from dir, or name when there is no .gz.
func readIDXIn(dir, name string) (*IDX, error) {
	p := filepath.Join(dir, name+".gz")
	if _, err := os.Stat(p); err != nil {
		p = filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("dataset: %s: no %s(.gz): %w", dir, name, err)
		}
	}
	return readIDXFile(p)
}
