package tfmodel_test

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/ganhost/ganhost/go/gan"
)

// BenchmarkGenerate reports images/s and how much resident memory grew over the run, so a leak
// of TF tensors (graft frees them only through finalizers) shows up as a growing rss_growth_MB.
func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			m, _ := MustOpenCopy(b)
			z := gan.Noise(1, n)
			MustGenerate(b, m, z, n) // warm up: first run optimises the graph
			runtime.GC()
			before := rssBytes(b)
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.Generate(z, nil, n); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
			b.ReportMetric(float64(rssBytes(b)-before)/(1<<20), "rss_growth_MB")
		})
	}
}

// rssBytes reads the process's resident set size from /proc (Linux).
func rssBytes(tb testing.TB) int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Skip("no /proc/self/statm")
	}
	fields := bytes.Fields(raw)
	pages, _ := strconv.ParseInt(string(fields[1]), 10, 64)
	return pages * int64(os.Getpagesize())
}
