// Package gan holds ganhost's domain types: errors, noise, training step
// results and the image grids made from generator output. It uses the
// standard library only, so every other package can depend on it without
// pulling in TensorFlow or cgo.
package gan
