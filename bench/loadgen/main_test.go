package main

import (
	"testing"
	"time"
)

// These tests check loadgen's arithmetic and its refusal of non-loopback targets; they time
// nothing.

func TestPercentileNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	sorted := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	for _, tc := range []struct {
		p    float64
		want int
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {1, 1}} {
		if got := Percentile(sorted, tc.p); got != time.Duration(tc.want)*time.Millisecond {
			t.Errorf("p%v = %v, want %dms", tc.p, got, tc.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("empty: %v, want 0", got)
	}
	if got := Percentile(ms(7), 99); got != 7*time.Millisecond {
		t.Errorf("one value: %v, want 7ms", got)
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080/generate?n=16", "http://localhost:1/", "http://[::1]:9/x", "http://127.1.2.3:80/"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:8080/", "http://example.com/", "https://127.0.0.1/", "http://0.0.0.0:80/", "ftp://127.0.0.1/"} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestConfigBounds(t *testing.T) {
	good := Config{URL: "http://127.0.0.1:1/", Method: "GET", Concurrency: 8, Duration: time.Second,
		MaxRequests: 10, Warmup: 0, MaxWarmup: 0, Timeout: time.Second}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Config){
		"c=0":        func(c *Config) { c.Concurrency = 0 },
		"d=0":        func(c *Config) { c.Duration = 0 },
		"d too long": func(c *Config) { c.Duration = time.Hour },
		"n=0":        func(c *Config) { c.MaxRequests = 0 },
		"timeout=0":  func(c *Config) { c.Timeout = 0 },
	} {
		c := good
		mutate(&c)
		if err := c.Check(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
