package gan

import "math/rand/v2"

// LatentDim is the length of one noise vector z; the SavedModel contract fixes it.
const LatentDim = 100

// ImageSize is the side of a square generated image in pixels.
const ImageSize = 28

// ImagePixels is the number of values in one image ([28, 28, 1]).
const ImagePixels = ImageSize * ImageSize

// Noise returns n standard-normal noise vectors (n*LatentDim values, row-major) for seed, so a
// seed and a model version always give the same images.
func Noise(seed int64, n int) []float32 {
	return NewNoiseSource(seed).Next(nil, n)
}

// NoiseSource draws a reproducible stream of noise batches, for training. It is not safe for
// concurrent use.
type NoiseSource struct {
	rng *rand.Rand
}

// NewNoiseSource returns a source whose stream is fixed by seed.
func NewNoiseSource(seed int64) *NoiseSource {
	// PCG's second word is a constant ("ganhost"): the seed alone picks the stream.
	return &NoiseSource{rng: rand.New(rand.NewPCG(uint64(seed), 0x67616e686f7374))}
}

// Next fills n noise vectors (n*LatentDim values), reusing dst when it has the capacity.
func (s *NoiseSource) Next(dst []float32, n int) []float32 {
	if cap(dst) < n*LatentDim {
		dst = make([]float32, n*LatentDim)
	}
	dst = dst[:n*LatentDim]
	for i := range dst {
		dst[i] = float32(s.rng.NormFloat64())
	}
	return dst
}

// Labels returns n class labels in 0..NumClasses-1 drawn uniformly for seed, for a conditional
// model asked for no particular digit. The stream differs from Noise's for the same seed.
func Labels(seed int64, n int) []int32 {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6c6162656c73)) // "labels"
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(rng.IntN(NumClasses))
	}
	return out
}

// RepeatLabel returns n copies of label.
func RepeatLabel(label, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(label)
	}
	return out
}
