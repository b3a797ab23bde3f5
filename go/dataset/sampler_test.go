package dataset_test

import (
	"slices"
	"testing"

	"github.com/ganhost/ganhost/go/dataset"
)

// tenDigits returns a dataset of ten images where image k has label k and
// every pixel k*255/9, so 0 and 255 both occur and an image can be told from
// its label.
func tenDigits() *dataset.Dataset {
	ds := &dataset.Dataset{Images: make([]uint8, 10*dataset.Pixels), Labels: make([]uint8, 10)}
	for k := range 10 {
		ds.Labels[k] = uint8(k)
		for j := range dataset.Pixels {
			ds.Images[k*dataset.Pixels+j] = uint8(k * 255 / 9)
		}
	}
	return ds
}

// draw returns the labels of the next batches of n from s.
func draw(s *dataset.Sampler, batches, n int) []int32 {
	var all []int32
	for range batches {
		_, labels := s.BatchLabels(nil, nil, n)
		all = append(all, labels...)
	}
	return all
}

func TestSamplerSeed(t *testing.T) {
	tests := []struct {
		name     string
		seedA    uint64
		seedB    uint64
		wantSame bool
	}{
		{name: "ok, same seed, same batches", seedA: 1, seedB: 1, wantSame: true},
		{name: "ok, different seeds, different batches", seedA: 1, seedB: 2, wantSame: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 30 draws over three epochs: a chance collision of two seeds
			// is (1/10!)^3.
			a := draw(dataset.NewSampler(tenDigits(), tt.seedA), 10, 3)
			b := draw(dataset.NewSampler(tenDigits(), tt.seedB), 10, 3)
			if got := slices.Equal(a, b); got != tt.wantSame {
				t.Errorf("got same %v, want %v (%v vs %v)", got, tt.wantSame, a, b)
			}
		})
	}
}

func TestSamplerEpochs(t *testing.T) {
	tests := []struct {
		name  string
		batch int
	}{
		{name: "ok, batch of one", batch: 1},
		{name: "ok, batch of three spans epochs", batch: 3},
		{name: "ok, batch of a whole epoch", batch: 10},
		{name: "ok, batch larger than an epoch", batch: 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dataset.NewSampler(tenDigits(), 7)
			all := draw(s, 40/tt.batch+1, tt.batch)
			for e := 0; (e+1)*10 <= len(all); e++ {
				epoch := slices.Clone(all[e*10 : (e+1)*10])
				slices.Sort(epoch)
				if want := []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(epoch, want) {
					t.Errorf("epoch %d: got sorted labels %v, want %v", e, epoch, want)
				}
			}
		})
	}
}

func TestSamplerValues(t *testing.T) {
	s := dataset.NewSampler(tenDigits(), 3)
	images, labels := s.BatchLabels(nil, nil, 10)
	if got, want := len(images), 10*dataset.Pixels; got != want {
		t.Fatalf("got %d floats, want %d", got, want)
	}
	for i, l := range labels {
		img := images[i*dataset.Pixels : (i+1)*dataset.Pixels]
		want := (float32(int(l)*255/9) - 127.5) / 127.5
		for _, v := range img {
			if v != want || v < -1 || v > 1 {
				t.Fatalf("image of label %d: got pixel %v, want %v", l, v, want)
			}
		}
		switch l {
		case 0:
			if img[0] != -1 {
				t.Errorf("got %v for pixel 0, want -1", img[0])
			}
		case 9:
			if img[0] != 1 {
				t.Errorf("got %v for pixel 255, want 1", img[0])
			}
		}
	}
}

func TestSamplerReusesDst(t *testing.T) {
	tests := []struct {
		name      string
		dst       []float32
		n         int
		wantReuse bool
	}{
		{name: "ok, exact capacity is reused", dst: make([]float32, 2*dataset.Pixels), n: 2, wantReuse: true},
		{name: "ok, larger capacity is reused", dst: make([]float32, 1, 4*dataset.Pixels), n: 2, wantReuse: true},
		{name: "ok, small dst is replaced", dst: make([]float32, dataset.Pixels), n: 2, wantReuse: false},
		{name: "ok, n of zero gives an empty batch", dst: nil, n: 0, wantReuse: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dataset.NewSampler(tenDigits(), 1).Batch(tt.dst, tt.n)
			if len(got) != tt.n*dataset.Pixels {
				t.Fatalf("got len %d, want %d", len(got), tt.n*dataset.Pixels)
			}
			if reused := cap(tt.dst) > 0 && &got[:1][0] == &tt.dst[:1][0]; reused != tt.wantReuse {
				t.Errorf("got reused %v, want %v", reused, tt.wantReuse)
			}
		})
	}
}
