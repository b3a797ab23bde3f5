package tfmodel

import (
	"context"
	"time"

	"github.com/ganhost/ganhost/go/gan"
)

// BatchConfig configures how concurrent generation requests are coalesced into one TensorFlow
// run, like TF Serving's max_batch_size and batch_timeout_micros.
type BatchConfig struct {
	MaxRows int           // most images in one run; 0 disables batching
	Timeout time.Duration // how long a lone request waits for company; 0: batch only what is queued
}

// genJob is one generation request waiting for a batch.
type genJob struct {
	z      []float32
	n      int
	labels func(conditional bool) ([]int32, error) // picked with the model that runs the batch
	done   chan genResult                          // buffered: the runner never blocks on it
}

type genResult struct {
	images  []float32
	version int64
	err     error
}

// generate runs z through the served model, batched with concurrent requests when batching is
// on. Images are identical either way: Model.Generate pads every run to whole row blocks.
func (h *Host) generate(ctx context.Context, z []float32, n int, labels func(bool) ([]int32, error)) (genResult, error) {
	if h.queue == nil {
		s := h.acquire()
		defer s.refs.Done()
		return h.runOne(s, z, n, labels), nil
	}
	job := &genJob{z: z, n: n, labels: labels, done: make(chan genResult, 1)}
	select {
	case h.queue <- job:
	case <-ctx.Done():
		return genResult{}, gan.Wrap(ctx.Err(), gan.EUNAVAILABLE, "request cancelled while waiting for a generation batch")
	}
	select {
	case res := <-job.done:
		return res, nil
	case <-ctx.Done():
		return genResult{}, gan.Wrap(ctx.Err(), gan.EUNAVAILABLE, "request cancelled while its batch was running")
	}
}

func (h *Host) runOne(s *servedModel, z []float32, n int, labels func(bool) ([]int32, error)) genResult {
	l, err := labels(s.model.Conditional())
	if err != nil {
		return genResult{err: err}
	}
	images, err := s.model.Generate(z, l, n)
	return genResult{images: images, version: s.version, err: err}
}

// runBatches is the batching loop: it takes the first queued request, adds whatever else is
// queued (or arrives within the timeout) up to MaxRows, and runs them as one batch.
func (h *Host) runBatches(stop <-chan struct{}) {
	var carry *genJob // a request that did not fit the previous batch
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-h.queue:
			case <-stop:
				return
			}
		}
		jobs, rows := []*genJob{first}, first.n
		var deadline <-chan time.Time
		var timer *time.Timer
		if h.cfg.Batch.Timeout > 0 {
			timer = time.NewTimer(h.cfg.Batch.Timeout)
			deadline = timer.C
		}
	collect:
		for rows < h.cfg.Batch.MaxRows {
			var j *genJob
			if deadline == nil {
				select {
				case j = <-h.queue:
				default:
					break collect
				}
			} else {
				select {
				case j = <-h.queue:
				case <-deadline:
					break collect
				}
			}
			if rows+j.n > h.cfg.Batch.MaxRows {
				carry = j
				break
			}
			jobs, rows = append(jobs, j), rows+j.n
		}
		if timer != nil {
			timer.Stop()
		}
		h.runBatch(jobs, rows)
	}
}

// runBatch runs jobs as one Generate call and hands each its rows.
func (h *Host) runBatch(jobs []*genJob, rows int) {
	s := h.acquire()
	defer s.refs.Done()
	if len(jobs) == 1 {
		jobs[0].done <- h.runOne(s, jobs[0].z, jobs[0].n, jobs[0].labels)
		return
	}
	z := make([]float32, 0, rows*gan.LatentDim)
	var labels []int32
	var ok []*genJob
	for _, j := range jobs {
		l, err := j.labels(s.model.Conditional())
		if err != nil {
			j.done <- genResult{err: err}
			continue
		}
		z = append(z, j.z...)
		labels = append(labels, l...)
		ok = append(ok, j)
	}
	n := len(z) / gan.LatentDim
	if n == 0 {
		return
	}
	images, err := s.model.Generate(z, labels, n)
	h.batches.Add(1)
	h.batchedRows.Add(int64(n))
	offset := 0
	for _, j := range ok {
		if err != nil {
			j.done <- genResult{err: err}
			continue
		}
		j.done <- genResult{images: images[offset*gan.ImagePixels : (offset+j.n)*gan.ImagePixels : (offset+j.n)*gan.ImagePixels], version: s.version}
		offset += j.n
	}
}

// BatchStats reports how many multi-request batches ran and how many images they held.
func (h *Host) BatchStats() (batches, rows int64) { return h.batches.Load(), h.batchedRows.Load() }
