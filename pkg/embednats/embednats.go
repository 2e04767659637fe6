// Package embednats starts the NATS servers clickagg embeds: the core's hub and each
// edge's leaf node. Both sides need the same few things (JetStream in its own
// domain, leafnode links, an in-process client, logs through slog), and getting
// them wrong is silent (two edges in one domain: the hub sources only one), so the
// recipe lives here once.
package embednats

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure Start.
type Options struct {
	Name   string // server name, shown in logs and monitoring
	Dir    string // JetStream store directory; required
	Domain string // JetStream domain; required, unique per server

	// LeafListen, when set ("host:port", port 0 picks one), accepts leafnode
	// connections: the hub's side.
	LeafListen string
	// LeafRemotes are hub URLs (nats-leaf://host:port) this server dials: an edge's
	// side. Reconnects every ReconnectInterval (default 1 s) while cut off.
	LeafRemotes       []string
	ReconnectInterval time.Duration
	// ClientListen, when set, also accepts ordinary NATS clients; otherwise the
	// server only serves in-process connections.
	ClientListen string
	// MaxStore bounds JetStream file storage in bytes; 0 means the server's default
	// (most of the disk).
	MaxStore int64
	// SyncAlways fsyncs every JetStream write. Without it the server syncs every
	// 2 minutes: acknowledged writes survive the process being killed (they are in
	// the page cache) but not a power loss. FINDINGS: ~700 fsynced messages/s here.
	SyncAlways bool

	Logger *slog.Logger
}

// Server is a running embedded NATS server with an in-process client.
type Server struct {
	leafAddr string
	NS       *server.Server
	NC       *nats.Conn
	JS       jetstream.JetStream
}

// Start starts a server, waits until it is ready, and connects to it in-process.
func Start(o Options) (*Server, error) {
	if o.Dir == "" || o.Domain == "" {
		return nil, errors.New("embednats: Dir and Domain are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	opts := &server.Options{
		ServerName:             o.Name,
		JetStream:              true,
		JetStreamDomain:        o.Domain,
		StoreDir:               o.Dir,
		JetStreamMaxStore:      o.MaxStore,
		DontListen:             o.ClientListen == "",
		NoSigs:                 true,
		MaxPayload:             8 << 20,
		DisableJetStreamBanner: true,
	}
	if o.ClientListen != "" {
		h, p, err := splitHostPort(o.ClientListen)
		if err != nil {
			return nil, fmt.Errorf("client listen: %w", err)
		}
		opts.Host, opts.Port = h, p
	}
	var leafAddr string
	if o.LeafListen != "" {
		h, p, err := splitHostPort(o.LeafListen)
		if err != nil {
			return nil, fmt.Errorf("leafnode listen: %w", err)
		}
		// NoAdvertise: edges must dial only the address they were given, never one
		// the hub gossips past a proxy or load balancer (FINDINGS).
		opts.LeafNode = server.LeafNodeOpts{Host: h, Port: p, NoAdvertise: true}
		if p == 0 {
			// The server keeps a port it picked to itself; pick one here so that
			// LeafURL can tell edges where to dial.
			if p, err = freePort(h); err != nil {
				return nil, fmt.Errorf("leafnode listen: %w", err)
			}
			opts.LeafNode.Port = p
		}
		leafAddr = net.JoinHostPort(h, strconv.Itoa(p))
	}
	for _, r := range o.LeafRemotes {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("leafnode remote %q: not a URL like nats-leaf://host:7422", r)
		}
		opts.LeafNode.Remotes = append(opts.LeafNode.Remotes, &server.RemoteLeafOpts{URLs: []*url.URL{u}})
	}
	if len(opts.LeafNode.Remotes) > 0 {
		opts.LeafNode.ReconnectInterval = o.ReconnectInterval
		if opts.LeafNode.ReconnectInterval == 0 {
			opts.LeafNode.ReconnectInterval = time.Second
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server %s: %w", o.Name, err)
	}
	ns.SetLoggerV2(&logger{l: log.With("nats", o.Name)}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server %s: not ready after 30s", o.Name)
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name(o.Name+"-local"), nats.MaxReconnects(-1))
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("connect to %s: %w", o.Name, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, err
	}
	return &Server{leafAddr: leafAddr, NS: ns, NC: nc, JS: js}, nil
}

// Connect returns a Server for an external NATS server at url: no embedded server,
// NS is nil, and the leafnode accessors report nothing.
func Connect(url, name string) (*Server, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Server{NC: nc, JS: js}, nil
}

// Embedded reports whether this process runs the server.
func (s *Server) Embedded() bool { return s.NS != nil }

// LeafAddr returns the address the leafnode listener is bound to ("host:port", the
// real port when Options.LeafListen asked for port 0), or "".
func (s *Server) LeafAddr() string {
	return s.leafAddr
}

// LeafURL returns the URL edges dial to reach this server's leafnode listener.
func (s *Server) LeafURL() string {
	if a := s.LeafAddr(); a != "" {
		return "nats-leaf://" + a
	}
	return ""
}

// ClientURL returns the URL ordinary NATS clients can use, or "".
func (s *Server) ClientURL() string {
	if s.NS == nil || s.NS.Addr() == nil {
		return ""
	}
	return s.NS.ClientURL()
}

// LeafConnected reports whether this server has at least one leafnode connection.
func (s *Server) LeafConnected() bool { return s.LeafNodes() > 0 }

// LeafNodes is the number of leafnode connections (0 for an external server).
func (s *Server) LeafNodes() int {
	if s.NS == nil {
		return 0
	}
	return s.NS.NumLeafNodes()
}

// Shutdown drains the client and stops the server, waiting for it to finish.
func (s *Server) Shutdown() {
	if s.NC != nil {
		s.NC.Close()
	}
	if s.NS != nil {
		s.NS.Shutdown()
		s.NS.WaitForShutdown()
	}
}

func splitHostPort(a string) (string, int, error) {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", a)
	}
	return h, n, nil
}

// logger adapts nats-server's logger to slog. Debug and trace stay off. Warnings
// and errors of the same kind (format string) are logged at most once per
// repeatEvery: a cut-off edge would otherwise log its failed leafnode dial every
// second for as long as the outage lasts.
type logger struct {
	l    *slog.Logger
	mu   sync.Mutex
	last map[string]time.Time
}

const repeatEvery = 30 * time.Second

func (l *logger) quiet(f string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	now := time.Now()
	if t, ok := l.last[f]; ok && now.Sub(t) < repeatEvery {
		return true
	}
	l.last[f] = now
	return false
}

func (l *logger) Noticef(f string, v ...any) { l.l.Debug(fmt.Sprintf(f, v...)) }
func (l *logger) Warnf(f string, v ...any) {
	if !l.quiet(f) {
		l.l.Warn(fmt.Sprintf(f, v...))
	}
}
func (l *logger) Fatalf(f string, v ...any) { l.l.Error(fmt.Sprintf(f, v...)) }
func (l *logger) Errorf(f string, v ...any) {
	if !l.quiet(f) {
		l.l.Error(fmt.Sprintf(f, v...))
	}
}
func (l *logger) Debugf(f string, v ...any) {}
func (l *logger) Tracef(f string, v ...any) {}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
