package dataset

import "math/rand/v2"

// pixelValue maps a byte to the generator's output range [-1,1], so real and
// generated images are compared on the same scale. A table makes 0 -> -1 and
// 255 -> 1 exact and the conversion a lookup.
var pixelValue = func() (t [256]float32) {
	for p := range t {
		t[p] = (float32(p) - 127.5) / 127.5
	}
	return t
}()

// Sampler draws batches in shuffled epochs: every image appears once per
// epoch, in an order fixed by the seed, so a training run can be repeated.
// A Sampler is not safe for concurrent use.
type Sampler struct {
	ds   *Dataset
	rng  *rand.Rand
	perm []int // order of the current epoch
	pos  int   // next index into perm
	// labels is where Batch puts the labels it discards, so it does not
	// allocate per call.
	labels []int32
}

// NewSampler returns a Sampler over ds whose sequence of batches depends only
// on seed. It panics if ds is empty or its Images and Labels disagree, which
// Load never returns.
func NewSampler(ds *Dataset, seed uint64) *Sampler {
	if ds.Len() == 0 || len(ds.Images) != ds.Len()*Pixels {
		panic("dataset: NewSampler needs a non-empty dataset with Len()*Pixels image bytes")
	}
	perm := make([]int, ds.Len())
	for i := range perm {
		perm[i] = i
	}
	s := &Sampler{ds: ds, rng: rand.New(rand.NewPCG(seed, seed)), perm: perm}
	s.shuffle()
	return s
}

// Batch fills n images as float32 in [-1,1], laid out [n,28,28,1] row-major,
// into dst (reused when it has the capacity) and returns it.
func (s *Sampler) Batch(dst []float32, n int) []float32 {
	dst, s.labels = s.BatchLabels(dst, s.labels, n)
	return dst
}

// BatchLabels is Batch that also returns the n labels, in labels when it has
// the capacity. Images and labels advance together, so Batch and BatchLabels
// calls can be mixed without skipping images.
func (s *Sampler) BatchLabels(dst []float32, labels []int32, n int) ([]float32, []int32) {
	n = max(n, 0)
	dst = grow(dst, n*Pixels)
	labels = grow(labels, n)
	for i := range n {
		if s.pos == len(s.perm) {
			s.shuffle()
		}
		k := s.perm[s.pos]
		s.pos++
		out := dst[i*Pixels : (i+1)*Pixels]
		for j, p := range s.ds.Images[k*Pixels : (k+1)*Pixels] {
			out[j] = pixelValue[p]
		}
		labels[i] = int32(s.ds.Labels[k])
	}
	return dst, labels
}

// shuffle starts a new epoch.
func (s *Sampler) shuffle() {
	s.rng.Shuffle(len(s.perm), func(i, j int) { s.perm[i], s.perm[j] = s.perm[j], s.perm[i] })
	s.pos = 0
}

// grow returns b resized to n, reusing its array when it is big enough.
func grow[T any](b []T, n int) []T {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]T, n)
}
