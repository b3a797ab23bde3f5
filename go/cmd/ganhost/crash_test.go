package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ganhost/ganhost/go/tfmodel"
)

// TestMain lets the crash test run `ganhost serve` as a child process of the test binary, so
// it can be killed with SIGKILL like a real server.
func TestMain(m *testing.M) {
	if args := os.Getenv("GANHOST_TEST_CHILD_ARGS"); args != "" {
		os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, io.Discard))
	}
	os.Exit(m.Run())
}

// startChild runs `ganhost serve` on a free port in a child process and returns its URL.
func startChild(t *testing.T, base string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	args := append([]string{"serve", "-addr", "127.0.0.1:0", "-model-base", base, "-model-name", "gan", "-data", repoData(t)}, extra...)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GANHOST_TEST_CHILD_ARGS="+strings.Join(args, "\x1f"), "GANHOST_TOKEN=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, out)
	}()
	select {
	case line := <-lines:
		_, url, ok := strings.Cut(strings.TrimSpace(line), " on ")
		if !ok {
			cmd.Process.Kill()
			t.Fatalf("child did not start: %q", line)
		}
		return cmd, url
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child did not start within 60s")
	}
	return nil, ""
}

// TestSIGKILLNeverLosesSavedVersions kills the server at random points while it trains and
// auto-saves, restarts it each time, and checks that it starts, serves the newest complete
// version, never lists a partial one, and loses at most the steps since the last save.
func TestSIGKILLNeverLosesSavedVersions(t *testing.T) {
	base := MustFixtureBase(t)
	rng := rand.New(rand.NewPCG(7, 7))
	const checkpointEvery = 3
	for round := range 5 {
		cmd, url := startChild(t, base, "-checkpoint-every", fmt.Sprint(checkpointEvery))
		var st struct {
			ServedVersion int64                     `json:"served_version"`
			Versions      []struct{ Version int64 } `json:"versions"`
		}
		resp, err := http.Get(url + "/models/gan")
		if err != nil {
			cmd.Process.Kill()
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		onDisk, _ := tfmodel.Versions(base)
		if newest := onDisk[len(onDisk)-1]; st.ServedVersion != newest {
			t.Errorf("round %d: serving version %d, want the newest complete one %d", round, st.ServedVersion, newest)
		}
		if entries, _ := os.ReadDir(base); hasTempDir(entries) {
			t.Errorf("round %d: an interrupted save's temporary directory survived the restart", round)
		}

		go http.Post(url+"/train/step", "application/json", strings.NewReader(`{"steps":200,"batch_size":8}`))
		waitTraining(t, url)
		// Kill at a random point of the run: during steps, auto-saves and the reloads after them.
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()

		// Every listed version is complete and loads.
		versions, err := tfmodel.Versions(base)
		if err != nil || len(versions) == 0 {
			t.Fatalf("round %d: versions %v, %v", round, versions, err)
		}
		for _, v := range versions {
			m, err := tfmodel.Open(tfmodel.VersionDir(base, v))
			if err != nil {
				t.Fatalf("round %d: version %d is listed but does not load: %v", round, v, err)
			}
			m.Close()
		}
	}
	versions, _ := tfmodel.Versions(base)
	if len(versions) < 3 {
		t.Errorf("versions=%v: auto-saves hardly ever completed in 5 rounds of training", versions)
	}
	t.Logf("versions after 5 kills: %v (dir %s)", versions, filepath.Base(base))
}

// waitTraining waits until the server has run a training step (the first one is slow: the
// session optimises the training graph), so kills land in the middle of training.
func waitTraining(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var st struct {
			Training *struct {
				StepsRun int `json:"steps_run"`
			} `json:"training"`
		}
		if resp, err := http.Get(url + "/models/gan"); err == nil {
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.Training != nil && st.Training.StepsRun > 0 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("training did not start within 60s")
}

func hasTempDir(entries []os.DirEntry) bool {
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp") {
			return true
		}
	}
	return false
}
