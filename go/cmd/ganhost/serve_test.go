package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MustMain runs `ganhost serve` for real on 127.0.0.1:0 over a copy of the fixture.
func MustMain(tb testing.TB, env map[string]string, args ...string) (*Main, string) {
	tb.Helper()
	base := MustFixtureBase(tb)
	m := &Main{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	getenv := func(k string) string { return env[k] }
	args = append([]string{"-addr", "127.0.0.1:0", "-model-base", base, "-model-name", "gan", "-data", repoData(tb.(*testing.T))}, args...)
	if err := m.ParseFlags(args, getenv, io.Discard); err != nil {
		tb.Fatalf("ParseFlags: %v", err)
	}
	if err := m.Run(); err != nil {
		tb.Fatalf("Run: %v", err)
	}
	return m, base
}

func httpDo(t *testing.T, method, url, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

func TestServeEndToEnd(t *testing.T) {
	m, base := MustMain(t, map[string]string{"GANHOST_TOKEN": "tok"})
	url := "http://" + m.Addr()

	resp, body := httpDo(t, "GET", url+"/generate?n=16&seed=1", "")
	if resp.StatusCode != 200 {
		t.Fatalf("generate status=%d: %s", resp.StatusCode, body)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(body))
	if err != nil || cfg.Width != 112 || cfg.Height != 112 {
		t.Fatalf("generate: %v %dx%d, want a 112x112 PNG", err, cfg.Width, cfg.Height)
	}
	if resp, _ := httpDo(t, "POST", url+"/train/step", `{"steps":2}`); resp.StatusCode != 401 {
		t.Errorf("train without token: status=%d, want 401", resp.StatusCode)
	}
	resp, body = httpDo(t, "POST", url+"/train/step", `{"steps":4,"batch_size":16}`, "Authorization", "Bearer tok")
	if resp.StatusCode != 200 {
		t.Fatalf("train status=%d: %s", resp.StatusCode, body)
	}

	// Save while generation requests are in flight: none may fail.
	var wg sync.WaitGroup
	var failures sync.Map
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := http.Get(url + "/generate?n=8")
				if err != nil {
					failures.Store(err.Error(), true)
					return
				}
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode != 200 {
					failures.Store(r.Status, true)
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	resp, body = httpDo(t, "POST", url+"/models/gan/versions", "", "Authorization", "Bearer tok")
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if resp.StatusCode != 201 {
		t.Fatalf("save status=%d: %s", resp.StatusCode, body)
	}
	failures.Range(func(k, _ any) bool { t.Errorf("generate during save: %v", k); return true })
	resp, _ = httpDo(t, "GET", url+"/generate?n=1", "")
	if v := resp.Header.Get("X-Model-Version"); v != "2" {
		t.Errorf("served version after save=%s, want 2", v)
	}

	// Unsaved steps are saved as a new version on shutdown.
	if resp, body := httpDo(t, "POST", url+"/train/step", `{"steps":3,"batch_size":16}`, "Authorization", "Bearer tok"); resp.StatusCode != 200 {
		t.Fatalf("train status=%d: %s", resp.StatusCode, body)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "3", "variables", "variables.index")); err != nil {
		t.Fatalf("unsaved steps not saved as version 3 on shutdown: %v", err)
	}

	// A restart serves the newest version, and its global step continues.
	m2, _ := restartOn(t, base)
	defer m2.Close()
	resp, body = httpDo(t, "GET", "http://"+m2.Addr()+"/models/gan", "")
	var st struct {
		ServedVersion int64 `json:"served_version"`
	}
	if err := json.Unmarshal(body, &st); err != nil || st.ServedVersion != 3 {
		t.Errorf("after restart: %s (err %v), want served_version 3", body, err)
	}
	_, body = httpDo(t, "POST", "http://"+m2.Addr()+"/train/step", `{"batch_size":16}`)
	var tr struct{ Step int64 }
	if err := json.Unmarshal(body, &tr); err != nil || tr.Step != 8 {
		t.Errorf("first step after restart=%s, want global step 8 (4+3 trained before, +1)", body)
	}
}

func restartOn(t *testing.T, base string) (*Main, string) {
	m := &Main{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	if err := m.ParseFlags([]string{"-addr", "127.0.0.1:0", "-model-base", base, "-model-name", "gan", "-data", repoData(t)}, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(); err != nil {
		t.Fatal(err)
	}
	return m, base
}

func TestServeFlags(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		contains string // "" means success
	}{
		{"ok, loopback without token", []string{"-addr", "127.0.0.1:0"}, nil, ""},
		{"ok, localhost without token", []string{"-addr", "localhost:8080"}, nil, ""},
		{"ok, all interfaces with token", []string{"-addr", "0.0.0.0:8080"}, map[string]string{"GANHOST_TOKEN": "t"}, ""},
		{"ok, all interfaces insecure", []string{"-addr", ":8080", "-insecure"}, nil, ""},
		{"ok, env insecure", []string{"-addr", ":8080"}, map[string]string{"GANHOST_INSECURE": "1"}, ""},
		{"nok, all interfaces without token", []string{"-addr", ":8080"}, nil, "refusing to listen on :8080 without a token"},
		{"nok, public IP without token", []string{"-addr", "0.0.0.0:8080"}, nil, "refusing"},
		{"nok, env addr without token", nil, map[string]string{"GANHOST_ADDR": "0.0.0.0:9"}, "refusing"},
		{"nok, max-n 0", []string{"-max-n", "0"}, nil, "-max-n must be at least 1"},
		{"nok, bad env int", nil, map[string]string{"GANHOST_MAX_N": "lots"}, "GANHOST_MAX_N must be an integer"},
		{"nok, negative checkpoint", []string{"-checkpoint-every", "-1"}, nil, "-checkpoint-every must be 0 or more"},
		{"nok, public debug address", []string{"-debug-addr", "0.0.0.0:6060"}, nil, "-debug-addr must be a loopback address"},
		{"ok, loopback debug address", []string{"-debug-addr", "127.0.0.1:6060"}, nil, ""},
		{"ok, replica", []string{"-replica"}, nil, ""},
		{"nok, bad poll interval", []string{"-poll-versions", "often"}, nil, "-poll-versions must be a duration"},
		{"ok, batching off", []string{"-batch-max-size", "0"}, nil, ""},
		{"ok, batch timeout", []string{"-batch-timeout", "2ms"}, nil, ""},
		{"nok, batch timeout text", []string{"-batch-timeout", "soon"}, nil, "-batch-timeout must be a duration"},
		{"nok, batch timeout too long", nil, map[string]string{"GANHOST_BATCH_TIMEOUT": "5s"}, "-batch-timeout must be a duration in 0s..1s"},
		{"nok, negative batch size", []string{"-batch-max-size", "-1"}, nil, "-batch-max-size must be 0 or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Main
			err := m.ParseFlags(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.contains == "" {
				if err != nil {
					t.Fatalf("err=%v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("err=%v, want it to contain %q", err, tc.contains)
			}
		})
	}
	var m Main
	if err := m.ParseFlags(nil, func(k string) string { return map[string]string{"GANHOST_MAX_N": "32"}[k] }, io.Discard); err != nil || m.Config.MaxN != 32 {
		t.Errorf("GANHOST_MAX_N=32 gave MaxN=%d (err %v)", m.Config.MaxN, err)
	}
	if err := m.ParseFlags([]string{"-max-n", "8"}, func(k string) string { return map[string]string{"GANHOST_MAX_N": "32"}[k] }, io.Discard); err != nil || m.Config.MaxN != 8 {
		t.Errorf("flag should win over env: MaxN=%d (err %v)", m.Config.MaxN, err)
	}
}

func TestCheckpointEvery(t *testing.T) {
	m, base := MustMain(t, nil, "-checkpoint-every", "3")
	defer m.Close()
	if resp, body := httpDo(t, "POST", "http://"+m.Addr()+"/train/step", `{"steps":7,"batch_size":8}`); resp.StatusCode != 200 {
		t.Fatalf("train status=%d: %s", resp.StatusCode, body)
	}
	for _, v := range []string{"2", "3"} {
		if _, err := os.Stat(filepath.Join(base, v, "saved_model.pb")); err != nil {
			t.Errorf("version %s not auto-saved: %v", v, err)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "4")); err == nil {
		t.Error("version 4 saved after only one more step")
	}
	_, body := httpDo(t, "GET", "http://"+m.Addr()+"/models/gan", "")
	if !strings.Contains(string(body), `"unsaved_steps":1`) || !strings.Contains(string(body), `"served_version":3`) {
		t.Errorf("status=%s, want served_version 3 and unsaved_steps 1", body)
	}
}

// TestServeSIGTERM runs the real `ganhost serve` command and stops it with SIGTERM: it must exit
// 0 after saving unsaved training steps as a new version.
func TestServeSIGTERM(t *testing.T) {
	base := MustFixtureBase(t)
	t.Setenv("GANHOST_TOKEN", "")
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"serve", "-addr", "127.0.0.1:0", "-model-base", base, "-data", repoData(t)}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no start-up line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	_, url, ok := strings.Cut(strings.TrimSpace(line), " on ")
	if !ok {
		t.Fatalf("start-up line %q lacks the address", line)
	}
	if resp, body := httpDo(t, "POST", url+"/train/step", `{"steps":2,"batch_size":8}`); resp.StatusCode != 200 {
		t.Fatalf("train status=%d: %s", resp.StatusCode, body)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code=%d, want 0", c)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop within 60s of SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(base, "2", "variables", "variables.index")); err != nil {
		t.Errorf("unsaved steps were not saved as version 2: %v", err)
	}
}

func TestHealthcheck(t *testing.T) {
	m, _ := MustMain(t, nil)
	defer m.Close()
	if code, out, errOut := runCLI(t, "healthcheck", "-url", "http://"+m.Addr()+"/healthz"); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("healthcheck of a live server: exit=%d out=%q err=%q", code, out, errOut)
	}
	if code, _, _ := runCLI(t, "healthcheck", "-url", "http://"+m.Addr()+"/nope", "-timeout", "1s"); code != 1 {
		t.Errorf("healthcheck of a 404: exit=%d, want 1", code)
	}
}

// Two host processes sharing one model base path: the trainer (this process) writes versions,
// the replica (a child process) serves each new one without a restart.
func TestReplicaFollowsTrainerOverHTTP(t *testing.T) {
	trainer, base := MustMain(t, nil)
	defer trainer.Close()
	replica, rURL := startChild(t, base, "-replica", "-poll-versions", "50ms")
	defer func() { replica.Process.Kill(); replica.Wait() }()
	tURL := "http://" + trainer.Addr()

	if resp, _ := httpDo(t, "POST", rURL+"/train/step", `{"steps":1}`); resp.StatusCode != 503 {
		t.Errorf("train on the replica: status=%d, want 503", resp.StatusCode)
	}
	httpDo(t, "POST", tURL+"/train/step", `{"steps":3,"batch_size":8}`)
	if resp, body := httpDo(t, "POST", tURL+"/models/gan/versions", ""); resp.StatusCode != 201 {
		t.Fatalf("save on the trainer: %d %s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, body := httpDo(t, "GET", rURL+"/generate?n=2&seed=3", "")
		if resp.Header.Get("X-Model-Version") == "2" {
			_, want := httpDo(t, "GET", tURL+"/generate?n=2&seed=3", "")
			if !bytes.Equal(body, want) {
				t.Error("replica and trainer serve different images for version 2")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica still serves version %s 20s after the save", resp.Header.Get("X-Model-Version"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
