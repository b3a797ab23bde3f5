package gan_test

import (
	"math"
	"slices"
	"testing"

	"github.com/ganhost/ganhost/go/gan"
)

func TestNoise(t *testing.T) {
	a, b := gan.Noise(1, 4), gan.Noise(1, 4)
	if !slices.Equal(a, b) {
		t.Error("same seed gave different noise")
	}
	if got, want := len(a), 4*gan.LatentDim; got != want {
		t.Fatalf("len=%d, want %d", got, want)
	}
	if slices.Equal(a, gan.Noise(2, 4)) {
		t.Error("different seeds gave the same noise")
	}
	// The first vector does not depend on how many follow, so n=1 and n=16 agree on image 0.
	if !slices.Equal(gan.Noise(1, 1), a[:gan.LatentDim]) {
		t.Error("noise for n=1 is not a prefix of noise for n=4")
	}
	var sum, sq float64
	big := gan.Noise(3, 1000)
	for _, v := range big {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	mean, variance := sum/float64(len(big)), sq/float64(len(big))
	if math.Abs(mean) > 0.02 || math.Abs(variance-1) > 0.03 {
		t.Errorf("mean=%.3f variance=%.3f, want about 0 and 1", mean, variance)
	}
}

func TestNoiseSourceStream(t *testing.T) {
	s1, s2 := gan.NewNoiseSource(9), gan.NewNoiseSource(9)
	buf := s1.Next(nil, 2)
	first := slices.Clone(buf)
	second := s1.Next(buf, 2)
	if &second[0] != &buf[0] {
		t.Error("Next did not reuse dst")
	}
	if slices.Equal(first, second) {
		t.Error("consecutive batches are equal")
	}
	if got := s2.Next(nil, 2); !slices.Equal(got, first) {
		t.Error("same seed gave a different stream")
	}
}

func TestLabels(t *testing.T) {
	a := gan.Labels(4, 1000)
	if !slices.Equal(a, gan.Labels(4, 1000)) {
		t.Error("same seed gave different labels")
	}
	var counts [gan.NumClasses]int
	for _, l := range a {
		if l < 0 || l >= gan.NumClasses {
			t.Fatalf("label %d out of 0..9", l)
		}
		counts[l]++
	}
	for d, c := range counts {
		if c < 60 || c > 140 { // about 100 each
			t.Errorf("digit %d drawn %d times in 1000, want about 100", d, c)
		}
	}
	if got := gan.RepeatLabel(7, 3); !slices.Equal(got, []int32{7, 7, 7}) {
		t.Errorf("RepeatLabel(7, 3)=%v", got)
	}
}
