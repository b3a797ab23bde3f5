// Command loadgen is bench/'s HTTP load generator: a closed loop of -c workers, each sending its
// next request as soon as the previous one is answered, against one URL on this machine.
//
// Every run is bounded twice: by time (-warmup, then -d) and by count (-n measured requests, and
// -max-warmup requests during the warm-up). Only loopback targets are accepted. It prints one
// JSON object:
//
//	{"url":..., "concurrency":8, "requests":1234, "ok":1230, "errors":0, "non_2xx":4,
//	 "status":{"200":1230,"503":4}, "seconds":5.01, "rps":245.5, "p50_ms":30.1, "p99_ms":61.2, ...}
//
// rps counts 2xx answers only, and the latency figures are those of 2xx answers: a fast 503 is
// not a served image, so it must not improve either figure. Errors are transport failures
// (refused connection, timeout).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one load run.
type Config struct {
	URL         string
	Method      string
	Body        string
	Concurrency int
	Duration    time.Duration // measured window
	MaxRequests int64         // measured requests at most
	Warmup      time.Duration // unmeasured load before the window
	MaxWarmup   int64         // warm-up requests at most
	Timeout     time.Duration // per request
}

// Result is what loadgen prints.
type Result struct {
	URL         string           `json:"url"`
	Method      string           `json:"method"`
	Concurrency int              `json:"concurrency"`
	Requests    int64            `json:"requests"` // measured requests that got an answer or failed
	OK          int64            `json:"ok"`       // 2xx answers
	Errors      int64            `json:"errors"`   // transport failures
	Non2xx      int64            `json:"non_2xx"`
	Status      map[string]int64 `json:"status"`
	Bytes       int64            `json:"bytes"` // body bytes of the 2xx answers
	Seconds     float64          `json:"seconds"`
	RPS         float64          `json:"rps"` // 2xx answers per second
	MeanMS      float64          `json:"mean_ms"`
	P50MS       float64          `json:"p50_ms"`
	P90MS       float64          `json:"p90_ms"`
	P99MS       float64          `json:"p99_ms"`
	MaxMS       float64          `json:"max_ms"`
	WarmupReqs  int64            `json:"warmup_requests"`
	FirstError  string           `json:"first_error,omitempty"`
}

func main() {
	var cfg Config
	flag.StringVar(&cfg.URL, "url", "", "target URL; its host must be a loopback address or localhost")
	flag.StringVar(&cfg.Method, "method", http.MethodGet, "HTTP method")
	flag.StringVar(&cfg.Body, "body", "", "request body (sent as application/json when not empty)")
	flag.IntVar(&cfg.Concurrency, "c", 1, "concurrent workers (connections), 1..1024")
	flag.DurationVar(&cfg.Duration, "d", 5*time.Second, "measured duration, at most 30m")
	flag.Int64Var(&cfg.MaxRequests, "n", 1_000_000, "measured requests at most, 1..100000000")
	flag.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured load before measuring, at most 5m")
	flag.Int64Var(&cfg.MaxWarmup, "max-warmup", 100_000, "warm-up requests at most")
	flag.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "per-request timeout")
	flag.Parse()
	if err := cfg.Check(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	if res.OK == 0 {
		fmt.Fprintf(os.Stderr, "loadgen: no 2xx answer from %s (errors %d, non-2xx %d, first error %q)\n",
			cfg.URL, res.Errors, res.Non2xx, res.FirstError)
		os.Exit(1)
	}
}

// Check validates the bounds and that the target is on this machine.
func (c Config) Check() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return fmt.Errorf("-c must be in 1..1024, got %d", c.Concurrency)
	case c.Duration <= 0 || c.Duration > 30*time.Minute:
		return fmt.Errorf("-d must be in (0, 30m], got %s", c.Duration)
	case c.MaxRequests < 1 || c.MaxRequests > 100_000_000:
		return fmt.Errorf("-n must be in 1..100000000, got %d", c.MaxRequests)
	case c.Warmup < 0 || c.Warmup > 5*time.Minute:
		return fmt.Errorf("-warmup must be in [0, 5m], got %s", c.Warmup)
	case c.MaxWarmup < 0:
		return fmt.Errorf("-max-warmup must be 0 or more, got %d", c.MaxWarmup)
	case c.Timeout <= 0 || c.Timeout > 10*time.Minute:
		return fmt.Errorf("-timeout must be in (0, 10m], got %s", c.Timeout)
	}
	return CheckLoopback(c.URL)
}

// CheckLoopback accepts only http URLs whose host is localhost or a loopback IP literal.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("-url: %v", err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("-url must be http://, got %q", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-url host %q is not a loopback address: loadgen only loads servers on this machine", host)
}

// Run drives the load and summarises the measured window. The window starts when the warm-up
// ends; it ends when -d has passed or -n requests were started, and in-flight requests finish.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Check(); err != nil {
		return Result{}, err
	}
	tr := &http.Transport{
		Proxy:               nil, // loopback only: never through a proxy from the environment
		MaxIdleConns:        cfg.Concurrency,
		MaxIdleConnsPerHost: cfg.Concurrency,
		MaxConnsPerHost:     cfg.Concurrency,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout}

	var (
		warmupLeft  atomic.Int64
		measureLeft atomic.Int64
		warmupDone  atomic.Int64
		mu          sync.Mutex
		res         = Result{URL: cfg.URL, Method: cfg.Method, Concurrency: cfg.Concurrency, Status: map[string]int64{}}
		latencies   = make([]time.Duration, 0, min(cfg.MaxRequests, 1<<20))
	)
	warmupLeft.Store(cfg.MaxWarmup)
	measureLeft.Store(cfg.MaxRequests)

	start := time.Now()
	warmupEnd := start.Add(cfg.Warmup)
	windowEnd := warmupEnd.Add(cfg.Duration)
	// A hard stop for everything, whatever the server does.
	hardCtx, cancel := context.WithDeadline(ctx, windowEnd.Add(cfg.Timeout))
	defer cancel()

	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for hardCtx.Err() == nil {
				now := time.Now()
				inWindow := !now.Before(warmupEnd)
				if !inWindow {
					if warmupLeft.Add(-1) < 0 {
						// Warm-up count spent: wait for the window instead of spinning.
						time.Sleep(time.Until(warmupEnd))
						continue
					}
				} else {
					if now.After(windowEnd) || measureLeft.Add(-1) < 0 {
						return
					}
				}
				status, n, lat, err := do(hardCtx, client, cfg)
				if err != nil {
					// A dead or refusing server fails at once: pause instead of spinning on it.
					select {
					case <-time.After(10 * time.Millisecond):
					case <-hardCtx.Done():
					}
				}
				if !inWindow {
					warmupDone.Add(1)
					continue
				}
				mu.Lock()
				res.Requests++
				switch {
				case err != nil:
					res.Errors++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				case status >= 200 && status < 300:
					res.OK++
					res.Bytes += n
					latencies = append(latencies, lat)
				default:
					res.Non2xx++
				}
				if err == nil {
					res.Status[strconv.Itoa(status)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	end := time.Now()
	if !end.After(warmupEnd) {
		return res, errors.New("the run ended before its measured window began")
	}
	res.WarmupReqs = warmupDone.Load()
	res.Seconds = end.Sub(warmupEnd).Seconds()
	res.RPS = float64(res.OK) / res.Seconds
	slices.Sort(latencies)
	res.P50MS = ms(Percentile(latencies, 50))
	res.P90MS = ms(Percentile(latencies, 90))
	res.P99MS = ms(Percentile(latencies, 99))
	if len(latencies) > 0 {
		res.MaxMS = ms(latencies[len(latencies)-1])
		var sum time.Duration
		for _, l := range latencies {
			sum += l
		}
		res.MeanMS = ms(sum / time.Duration(len(latencies)))
	}
	return res, nil
}

// do sends one request and reads the whole body.
func do(ctx context.Context, client *http.Client, cfg Config) (status int, n int64, lat time.Duration, err error) {
	var body io.Reader
	if cfg.Body != "" {
		body = bytes.NewBufferString(cfg.Body)
	}
	req, err := http.NewRequestWithContext(ctx, cfg.Method, cfg.URL, body)
	if err != nil {
		return 0, 0, 0, err
	}
	if cfg.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, time.Since(t0), err
	}
	n, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, n, time.Since(t0), err
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted, or 0 when empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
