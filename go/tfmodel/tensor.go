package tfmodel

import (
	"bytes"
	"fmt"
	"runtime"
	"unsafe"

	tf "github.com/wamuir/graft/tensorflow"
)

// newTensor copies a feed into a new TF tensor without graft's reflection-based NewTensor,
// which walks nested slices element by element.
func newTensor(f feed) (*tf.Tensor, error) {
	if f.labels != nil {
		return tf.ReadTensor(tf.Int32, f.shape, bytes.NewReader(int32Bytes(f.labels)))
	}
	return tf.ReadTensor(tf.Float, f.shape, bytes.NewReader(float32Bytes(f.data)))
}

// float32s copies a float32 tensor into a Go slice at once, so the C memory behind the tensor
// can be released by its finalizer as soon as the caller drops it.
func float32s(t *tf.Tensor, want int) ([]float32, error) {
	if t.DataType() != tf.Float {
		return nil, fmt.Errorf("tensor has dtype %v, want float32", t.DataType())
	}
	out := make([]float32, want)
	w := &fixedWriter{buf: float32Bytes(out)}
	_, err := t.WriteContentsTo(w)
	// graft reads t's C pointer and then no longer uses t, so without this the GC could run
	// t's finalizer (TF_DeleteTensor) while the copy is still reading the C memory.
	runtime.KeepAlive(t)
	if err != nil {
		return nil, err
	}
	if w.n != len(w.buf) {
		return nil, fmt.Errorf("tensor has %d bytes, want %d", w.n, len(w.buf))
	}
	return out, nil
}

// float32Bytes views a float32 slice as its bytes in host order, which is TF's in-memory layout.
func float32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(f)*4)
}

// int32Bytes views an int32 slice as its bytes in host order.
func int32Bytes(v []int32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*4)
}

// fixedWriter fills a preallocated buffer and refuses to overflow it.
type fixedWriter struct {
	buf []byte
	n   int
}

func (w *fixedWriter) Write(p []byte) (int, error) {
	if len(p) > len(w.buf)-w.n {
		return 0, fmt.Errorf("tensor larger than the %d bytes expected", len(w.buf))
	}
	w.n += copy(w.buf[w.n:], p)
	return len(p), nil
}
