package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/clickagg/clickagg/core"
)

// buildEdge builds clickedge into dir.
func buildEdge(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "clickedge")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/clickagg/clickagg/edge/cmd/clickedge").CombinedOutput()
	if err != nil {
		t.Fatalf("build clickedge: %v\n%s", err, out)
	}
	return bin
}

type edgeProc struct {
	t    *testing.T
	bin  string
	args []string
	addr string
	cmd  *exec.Cmd
}

func (e *edgeProc) start() {
	e.t.Helper()
	e.cmd = exec.Command(e.bin, e.args...)
	e.cmd.Stderr = testWriter{e.t}
	if err := e.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + e.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("edge process did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *edgeProc) kill9() {
	e.cmd.Process.Signal(syscall.SIGKILL)
	e.cmd.Wait()
}

// kill -9 of an edge process right after N answered redirects loses none: after a
// restart all N are counted exactly once, and clicking them again counts nothing
// (the dedup set is rebuilt from the journal).
func TestEdgeKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs an edge process")
	}
	dir := t.TempDir()
	bin := buildEdge(t, dir)
	c0, err := core.Start(context.Background(), core.Options{DataDir: filepath.Join(dir, "core"), APIAddr: "127.0.0.1:0",
		LeafListen: freeAddr(t), AdminToken: admin, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	c := client{t, "http://" + c0.APIAddr(), admin}
	c.putAd("k1", "acme")
	addr := freeAddr(t)
	e := &edgeProc{t: t, bin: bin, addr: addr, args: []string{"--id", "pop-k", "--hub", c0.LeafURL(),
		"--http-addr", addr, "--data", filepath.Join(dir, "edge"), "--log-level", "warn"}}
	e.start()
	defer func() {
		if e.cmd.ProcessState == nil {
			e.cmd.Process.Signal(os.Interrupt)
			e.cmd.Wait()
		}
	}()
	const n = 200
	paths := c.mint("k1", n)
	for i, p := range paths {
		if code, _ := click(t, addr, p, ""); code != 302 {
			t.Fatalf("click %d: %d", i, code)
		}
	}
	e.kill9() // no flush, no goodbye

	e.start()
	c.waitCounts(map[string]uint64{"k1": n})
	for _, p := range paths[:50] {
		if code, _ := click(t, addr, p, ""); code != 302 {
			t.Fatalf("re-click: %d", code)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	c.waitCounts(map[string]uint64{"k1": n})
}
