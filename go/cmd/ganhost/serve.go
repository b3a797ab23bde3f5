package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ganhost/ganhost/go/dataset"
	"github.com/ganhost/ganhost/go/gan"
	ganhttp "github.com/ganhost/ganhost/go/http"
	"github.com/ganhost/ganhost/go/tfmodel"
)

// ServeConfig holds the settings of `ganhost serve`.
type ServeConfig struct {
	Addr            string
	ModelBase       string
	ModelName       string
	Data            string
	CheckpointEvery int
	MaxN            int
	MaxConcurrent   int
	MaxBodyBytes    int64
	BatchMaxSize    int
	BatchTimeout    time.Duration
	Insecure        bool
	Replica         bool
	PollVersions    time.Duration
	DebugAddr       string // loopback address for net/http/pprof; "" = off
	Token           string // from GANHOST_TOKEN only: flags show up in process listings
}

// Main is the server program: ParseFlags, Run, then Close. Tests drive it end to end.
type Main struct {
	Config ServeConfig
	Logger *slog.Logger

	host     *tfmodel.Host
	server   *http.Server
	debug    *http.Server
	listener net.Listener
	served   chan error
}

// ParseFlags reads flags, with each flag's default taken from its GANHOST_* environment
// variable when set (flags win over the environment).
func (m *Main) ParseFlags(args []string, getenv func(string) string, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	c := &m.Config
	envStr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var err error
	envInt := func(name string, def int) int {
		if v := getenv(name); v != "" {
			n, convErr := strconv.Atoi(v)
			if convErr != nil {
				err = usageError{fmt.Sprintf("%s must be an integer, got %q", name, v)}
			}
			return n
		}
		return def
	}
	fs.StringVar(&c.Addr, "addr", envStr("GANHOST_ADDR", "127.0.0.1:8080"), "listen address (GANHOST_ADDR)")
	fs.StringVar(&c.ModelBase, "model-base", envStr("GANHOST_MODEL_BASE", "savedmodel/gan"), "model base path; its highest complete numeric version is served (GANHOST_MODEL_BASE)")
	fs.StringVar(&c.ModelName, "model-name", envStr("GANHOST_MODEL_NAME", ""), "model name in URLs; default: the base path's last element (GANHOST_MODEL_NAME)")
	fs.StringVar(&c.Data, "data", envStr("GANHOST_DATA", "data/mnist"), "training dataset: IDX directory or mnist.npz; training is disabled when absent (GANHOST_DATA)")
	fs.IntVar(&c.CheckpointEvery, "checkpoint-every", envInt("GANHOST_CHECKPOINT_EVERY", 0), "save a version every N trained steps; 0 = off (GANHOST_CHECKPOINT_EVERY)")
	fs.IntVar(&c.MaxN, "max-n", envInt("GANHOST_MAX_N", gan.DefaultMaxN), "largest n for /generate and batch for :predict (GANHOST_MAX_N)")
	fs.IntVar(&c.MaxConcurrent, "max-concurrent", envInt("GANHOST_MAX_CONCURRENT", 64), "generation/predict requests in progress at once (batched together); more get 503 (GANHOST_MAX_CONCURRENT)")
	fs.IntVar(&c.BatchMaxSize, "batch-max-size", envInt("GANHOST_BATCH_MAX_SIZE", 256), "most images coalesced into one TensorFlow run from concurrent /generate and :predict requests; 0 disables batching (GANHOST_BATCH_MAX_SIZE)")
	batchTimeout := fs.String("batch-timeout", envStr("GANHOST_BATCH_TIMEOUT", "0s"), "how long a request waits for others to batch with; 0 batches only what is already queued (GANHOST_BATCH_TIMEOUT)")
	maxBody := fs.Int("max-body", envInt("GANHOST_MAX_BODY", ganhttp.DefaultMaxBodyBytes), "request body limit in bytes (GANHOST_MAX_BODY)")
	fs.BoolVar(&c.Replica, "replica", getenv("GANHOST_REPLICA") == "1", "read-only replica: no training or version writes; follows new versions in the base path (GANHOST_REPLICA=1)")
	pollVersions := fs.String("poll-versions", envStr("GANHOST_POLL_VERSIONS", ""), "check the base path this often and serve newer versions without a restart (default 5s with -replica, else off) (GANHOST_POLL_VERSIONS)")
	fs.StringVar(&c.DebugAddr, "debug-addr", envStr("GANHOST_DEBUG_ADDR", ""), "serve Go heap/goroutine profiles (net/http/pprof, no CPU profile) on this loopback address, e.g. 127.0.0.1:6060 (GANHOST_DEBUG_ADDR)")
	fs.BoolVar(&c.Insecure, "insecure", getenv("GANHOST_INSECURE") == "1", "allow a non-loopback address without GANHOST_TOKEN (GANHOST_INSECURE=1)")
	if err != nil {
		return err
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c.MaxBodyBytes = int64(*maxBody)
	switch {
	case *pollVersions != "":
		if c.PollVersions, err = time.ParseDuration(*pollVersions); err != nil || c.PollVersions < 0 {
			return usageError{fmt.Sprintf("-poll-versions must be a duration such as 5s, got %q", *pollVersions)}
		}
	case c.Replica:
		c.PollVersions = 5 * time.Second
	}
	if c.BatchTimeout, err = time.ParseDuration(*batchTimeout); err != nil || c.BatchTimeout < 0 || c.BatchTimeout > time.Second {
		return usageError{fmt.Sprintf("-batch-timeout must be a duration in 0s..1s, got %q", *batchTimeout)}
	}
	c.Token = getenv("GANHOST_TOKEN")
	if c.ModelName == "" {
		c.ModelName = filepath.Base(filepath.Clean(c.ModelBase))
	}
	switch {
	case c.MaxN < 1:
		return usageError{fmt.Sprintf("-max-n must be at least 1, got %d", c.MaxN)}
	case c.MaxConcurrent < 1:
		return usageError{fmt.Sprintf("-max-concurrent must be at least 1, got %d", c.MaxConcurrent)}
	case c.CheckpointEvery < 0:
		return usageError{fmt.Sprintf("-checkpoint-every must be 0 or more, got %d", c.CheckpointEvery)}
	case c.BatchMaxSize < 0:
		return usageError{fmt.Sprintf("-batch-max-size must be 0 or more, got %d", c.BatchMaxSize)}
	case c.MaxBodyBytes < 1024:
		return usageError{fmt.Sprintf("-max-body must be at least 1024 bytes, got %d", c.MaxBodyBytes)}
	}
	if c.DebugAddr != "" && !isLoopback(c.DebugAddr) {
		return usageError{fmt.Sprintf("-debug-addr must be a loopback address (profiles expose internals), got %s", c.DebugAddr)}
	}
	if !c.Insecure && c.Token == "" && !isLoopback(c.Addr) {
		return usageError{fmt.Sprintf("refusing to listen on %s without a token: set GANHOST_TOKEN, or pass -insecure to serve training and version writes to anyone", c.Addr)}
	}
	return nil
}

// isLoopback reports whether addr's host only accepts local connections.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Run loads the model, starts listening and serves in the background.
func (m *Main) Run() error {
	if m.Logger == nil {
		m.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	c := m.Config
	hostCfg := tfmodel.HostConfig{
		Name: c.ModelName, Base: c.ModelBase, CheckpointEvery: c.CheckpointEvery,
		MaxN: c.MaxN, MaxConcurrent: c.MaxConcurrent, Logger: m.Logger,
		Batch: tfmodel.BatchConfig{MaxRows: c.BatchMaxSize, Timeout: c.BatchTimeout},
	}
	hostCfg.Replica, hostCfg.PollVersions = c.Replica, c.PollVersions
	if c.Replica {
		m.Logger.Info("read-only replica: training and version writes are disabled", "poll_versions", c.PollVersions.String())
	} else if ds, err := dataset.Load(c.Data); err != nil {
		m.Logger.Warn("training disabled: cannot load the dataset", "data", c.Data, "err", err)
	} else {
		hostCfg.Dataset, hostCfg.DatasetName = ds, c.Data
	}
	host, err := tfmodel.OpenHost(hostCfg)
	if err != nil {
		return err
	}
	m.host = host
	handler := ganhttp.New(ganhttp.Config{
		Service: host, Token: c.Token, MaxN: c.MaxN, MaxBodyBytes: c.MaxBodyBytes, Logger: m.Logger,
	})
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		host.Close()
		return err
	}
	m.listener = ln
	m.server = ganhttp.NewHTTPServer(handler, m.Logger)
	m.served = make(chan error, 1)
	go func() { m.served <- m.server.Serve(ln) }()
	if c.DebugAddr != "" {
		// Heap, goroutine, allocation and block profiles only: Go's CPU profiler (SIGPROF)
		// crashes the process inside TensorFlow's threads, so /debug/pprof/profile and /trace
		// are left out; use `perf record -p PID` for CPU profiles (bench/run does).
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		m.debug = &http.Server{Addr: c.DebugAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := m.debug.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.Logger.Error("debug server stopped", "addr", c.DebugAddr, "err", err)
			}
		}()
	}
	m.Logger.Info("serving", "addr", ln.Addr().String(), "model", c.ModelName, "base", c.ModelBase,
		"version", host.ServedVersion(), "auth", c.Token != "", "training", hostCfg.Dataset != nil)
	return nil
}

// Addr returns the address the server listens on (useful with ":0").
func (m *Main) Addr() string { return m.listener.Addr().String() }

// Close stops accepting connections, lets in-flight requests finish (a training run is
// interrupted after its current step), then saves unsaved training steps as a new version.
func (m *Main) Close() error {
	var errs []error
	if m.server != nil {
		// Interrupting training first lets its request finish quickly inside the grace period.
		m.host.StopTraining()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
		if err := <-m.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if m.debug != nil {
		_ = m.debug.Close()
	}
	if m.host != nil {
		if err := m.host.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func runServe(args []string, stdout, stderr io.Writer) error {
	m := &Main{Logger: slog.New(slog.NewJSONHandler(stderr, nil))}
	if err := m.ParseFlags(args, os.Getenv, stderr); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := m.Run(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ganhost serving %s version %d on http://%s\n", m.Config.ModelName, m.host.ServedVersion(), m.Addr())
	select {
	case <-ctx.Done():
		m.Logger.Info("shutting down", "reason", "signal")
	case err := <-m.served:
		m.served <- err // Close reads it
		m.Logger.Error("server stopped", "err", err)
	}
	return m.Close()
}
