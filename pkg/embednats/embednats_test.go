package embednats

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A hub and a leaf in their own domains, joined over real TCP: the leaf's stream is
// readable through the hub by domain, which is what sourcing relies on.
func TestHubAndLeaf(t *testing.T) {
	hub, err := Start(Options{Name: "hub", Dir: t.TempDir(), Domain: "hub", LeafListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Shutdown()
	if hub.LeafURL() == "" || hub.LeafAddr() == "127.0.0.1:0" {
		t.Fatalf("leaf url %q", hub.LeafURL())
	}
	leaf, err := Start(Options{Name: "e1", Dir: t.TempDir(), Domain: "e1", LeafRemotes: []string{hub.LeafURL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer leaf.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for !leaf.LeafConnected() || !hub.LeafConnected() {
		if time.Now().After(deadline) {
			t.Fatal("leafnode did not connect")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx := context.Background()
	if _, err := leaf.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.e1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.JS.Publish(ctx, "s.e1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	viaHub, err := jetstream.NewWithDomain(hub.NC, "e1")
	if err != nil {
		t.Fatal(err)
	}
	var info *jetstream.StreamInfo
	for time.Now().Before(deadline) {
		s, err := viaHub.Stream(ctx, "S")
		if err == nil {
			info, _ = s.Info(ctx)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if info == nil || info.State.Msgs != 1 {
		t.Fatalf("stream via hub domain: %+v", info)
	}
}

func TestOptionsErrors(t *testing.T) {
	if _, err := Start(Options{Domain: "x"}); err == nil {
		t.Fatal("no Dir accepted")
	}
	if _, err := Start(Options{Dir: t.TempDir(), Domain: "x", LeafRemotes: []string{"::bad"}}); err == nil {
		t.Fatal("bad remote accepted")
	}
}

// A core can use an external hub: Connect reaches a server by URL.
func TestConnectExternal(t *testing.T) {
	hub, err := Start(Options{Name: "ext", Dir: t.TempDir(), Domain: "hub", ClientListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Shutdown()
	c, err := Connect(hub.ClientURL(), "t")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	if c.Embedded() || c.LeafNodes() != 0 || c.LeafURL() != "" {
		t.Fatal("external server reported as embedded")
	}
	if _, err := c.JS.AccountInfo(context.Background()); err != nil {
		t.Fatalf("jetstream over the external connection: %v", err)
	}
}

// Repeated server warnings of one kind are logged once per repeatEvery.
func TestLogThrottle(t *testing.T) {
	var buf strings.Builder
	l := &logger{l: slog.New(slog.NewTextHandler(&buf, nil))}
	for i := 0; i < 5; i++ {
		l.Errorf("dial %s failed (attempt %d)", "hub", i)
	}
	l.Warnf("something else")
	if n := strings.Count(buf.String(), "dial hub failed"); n != 1 {
		t.Fatalf("logged the repeated error %d times:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "something else") {
		t.Fatal("another warning was swallowed")
	}
}
