package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clickagg/clickagg/bench/internal/load"
)

// nginx is a private nginx answering every request with a bare `return 302`: the
// ceiling for a redirect on this machine. It runs in the foreground (daemon off)
// from a temp dir with its pid file, logs and temp paths there, and is stopped by
// its master's pid.
type nginx struct {
	cmd     *exec.Cmd
	addr    string
	version string
	exited  chan struct{} // closed when the master has exited
}

// errNoNginx means nginx is not installed.
var errNoNginx = errors.New("nginx is not installed")

func findNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errNoNginx
}

// nginxConf renders the configuration: worker per core (as many as the edges may
// use), no access log, keep-alive without a request limit (the edges have none).
func nginxConf(dir, addr string) string {
	return fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {
        listen %[2]s;
        location / {
            add_header Cache-Control no-store;
            return 302 https://example.com/landing;
        }
    }
}
`, dir, addr)
}

// startNginx starts nginx on a free loopback port with its files under dir.
func startNginx(dir string) (*nginx, error) {
	bin, err := findNginx()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(dir, addr)), 0o644); err != nil {
		return nil, err
	}
	n := &nginx{addr: addr, exited: make(chan struct{})}
	if out, err := exec.Command(bin, "-v").CombinedOutput(); err == nil {
		n.version = strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: ")
	}
	var stderr bytes.Buffer
	n.cmd = exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	n.cmd.Stderr = &stderr
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	go func() { n.cmd.Wait(); close(n.exited) }()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-n.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return nil, fmt.Errorf("nginx exited: %s %s", stderr.String(), log)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return n, nil
		}
	}
	n.stop()
	return nil, errors.New("nginx did not listen within 5 s")
}

// stop asks the master for a fast shutdown (SIGTERM: it stops its workers), and
// kills it after 5 s.
func (n *nginx) stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(5 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
}

// baselineResult is nginx driven by the same generator as the edges.
type baselineResult struct {
	version  string
	skipped  string // why there is no baseline, "" if there is one
	capacity load.Result
	capTally *tally
	open     load.Result
	tally    *tally
}

// baselineOpen is the longest open-loop run against nginx (it only needs enough
// samples for a p999 at the main rate).
const baselineOpen = 10 * time.Second

// baseline drives nginx's bare 302 with the same generator: closed loop with the
// edges' connections (its ceiling), then open loop at the main rate (its latency).
// It runs while the last minute of clicks closes at the core.
func (r *runner) baseline(ctx context.Context) error {
	b := &baselineResult{capTally: newTally(), tally: newTally()}
	r.res.nginx = b
	if r.cfg.Nginx == "off" {
		b.skipped = "off (--nginx off)"
		return nil
	}
	dir, err := os.MkdirTemp("", "clickbench-nginx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	n, err := startNginx(dir)
	if errors.Is(err, errNoNginx) {
		b.skipped = "n/a (nginx not installed)"
		return nil
	}
	if err != nil {
		return err
	}
	defer n.stop()
	b.version = n.version
	s := newSender([]string{n.addr}, max(r.cfg.Workers, r.cfg.CapacityConns))
	p := r.plan
	path := func(i int) string { return p.imps[p.capacity[i%len(p.capacity)]].path }
	if r.cfg.CapacityDuration > 0 && len(p.capacity) > 0 {
		b.capacity = load.Closed{Conns: r.cfg.CapacityConns, Duration: r.cfg.CapacityDuration}.Run(ctx, func(conn, i int) {
			start := time.Now()
			b.capTally.record(kindFirst, nil, 0, s.send(0, path(i), ipString(uint32(i)), "US", "u"+strconv.Itoa(i%r.cfg.Users)), time.Since(start))
		})
	}
	dur := min(r.cfg.Duration, baselineOpen)
	b.open = load.Open{Rate: r.cfg.Rate, N: int(r.cfg.Rate * dur.Seconds()), Workers: r.cfg.Workers}.Run(ctx, func(i int, at time.Time) {
		c := &p.clicks[i%len(p.clicks)]
		b.tally.record(kindFirst, nil, 0, s.send(0, path(i), ipString(c.ip), countries[c.country].code, "u"+strconv.Itoa(int(c.user))), time.Since(at))
	})
	r.log.Info("nginx baseline", "version", b.version, "redirects_per_s", int(b.capacity.Rate()),
		"p99_at_rate", b.tally.all().QuantileDuration(0.99))
	return ctx.Err()
}
