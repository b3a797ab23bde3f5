// Package fuzzguard holds the two checks every ganhost fuzz target makes that Go's fuzzing
// engine does not: that an input does not hang, and that it does not make the code allocate
// far more than the input's size. It is for tests only, and pure Go (go/dataset is fuzzed
// without cgo).
package fuzzguard

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// Watchdog panics when the input is still running after the given time; call the function it
// returns when the input is done. The engine does not notice a hung worker (it passes at
// -fuzztime), but a panic from this timer goroutine takes the worker down, which the engine
// reports, saving the input as a crasher under testdata/fuzz/.
func Watchdog(after time.Duration, input any) (stop func() bool) {
	return time.AfterFunc(after, func() {
		panic(fmt.Sprintf("fuzz input still running after %v (a hang): %.300q", after, input))
	}).Stop
}

// BoundedAlloc runs fn and fails when the process allocated more than base + perByte*size bytes
// meanwhile. TotalAlloc is process-wide, but a fuzz worker runs one input at a time.
func BoundedAlloc(t testing.TB, base, perByte uint64, size int, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, base+perByte*uint64(size); got > limit {
		t.Fatalf("allocated %d bytes for %d bytes of input; limit %d", got, size, limit)
	}
}
