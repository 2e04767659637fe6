package scenario

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/clickagg/clickagg/core"
	"github.com/clickagg/clickagg/edge"
)

// inproc is a core and edges started in this process, as deploy/local starts them
// (that package is a main and cannot be imported), in a temp dir, on free loopback
// ports. Loopback is a trusted proxy, so X-Forwarded-For and X-Geo-Country count.
type inproc struct {
	core  *core.Node
	edges []*edge.Node
	token string
}

func startInproc(ctx context.Context, dir string, nEdges int, log *slog.Logger) (*inproc, error) {
	var b [16]byte
	rand.Read(b[:])
	d := &inproc{token: hex.EncodeToString(b[:])}
	leaf, err := freeAddr()
	if err != nil {
		return nil, err
	}
	d.core, err = core.Start(ctx, core.Options{DataDir: filepath.Join(dir, "core"), APIAddr: "127.0.0.1:0",
		LeafListen: leaf, AdminToken: d.token, Logger: log.With("node", "core")})
	if err != nil {
		return nil, fmt.Errorf("start core: %w", err)
	}
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for i := range nEdges {
		id := fmt.Sprintf("pop-%c", 'a'+i)
		e, err := edge.Start(ctx, edge.Options{ID: id, DataDir: filepath.Join(dir, "edges", id),
			HTTPAddr: "127.0.0.1:0", HubURL: d.core.LeafURL(), Trusted: loopback, Logger: log})
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("start edge %s: %w", id, err)
		}
		d.edges = append(d.edges, e)
	}
	for _, e := range d.edges {
		select {
		case <-e.Registered():
		case <-time.After(30 * time.Second):
			d.Close()
			return nil, fmt.Errorf("edge %s did not register with the hub in 30 s", e.ID())
		case <-ctx.Done():
			d.Close()
			return nil, ctx.Err()
		}
	}
	return d, nil
}

func (d *inproc) coreURL() string { return "http://" + d.core.APIAddr() }

func (d *inproc) edgeAddrs() []string {
	out := make([]string, len(d.edges))
	for i, e := range d.edges {
		out[i] = e.Addr()
	}
	return out
}

// Close stops the edges (each flushes what it holds), then the core.
func (d *inproc) Close() {
	for _, e := range d.edges {
		e.Close()
	}
	if d.core != nil {
		d.core.Close()
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
