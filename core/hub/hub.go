// Package hub runs the core's NATS hub: an embedded nats-server with JetStream in
// the "hub" domain and a leafnode listener that edges dial. It owns the hub streams
// that durably source every edge's streams, and answers edges' registrations by
// adding them as sources, so a new edge needs no configuration at the core.
//
// The list of edges is the PARTIALS stream's sources: there is no second copy of it
// to disagree.
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/pkg/embednats"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Options configure a hub.
type Options struct {
	// URL, when set, connects to an external NATS server or cluster instead of
	// embedding one (real deployments beyond one machine). Its JetStream domain must
	// be "hub" and it must accept the edges' leafnode connections (deploy/nats).
	URL          string
	Dir          string // JetStream store of the embedded server; required without URL
	LeafListen   string // e.g. "0.0.0.0:7422"; port 0 picks one
	ClientListen string // optional NATS client listener for operators' tools
	// Retention of the hub streams: how long partials and raw clicks are kept for
	// replay and reconciliation. Default 7 days.
	Retention time.Duration
	Logger    *slog.Logger
}

// Hub is a running hub.
type Hub struct {
	*embednats.Server
	o       Options
	mu      sync.Mutex // serialises stream updates from registrations
	edges   []string   // the PARTIALS stream's sources, kept in step with it under mu
	sub     *nats.Subscription
	status  *nats.Subscription
	smu     sync.Mutex
	latest  map[string]wire.EdgeStatus // each edge's last report, by edge id
	retired jetstream.KeyValue         // decommissioned edges: their registrations are refused
}

// RetiredBucket is the hub KV bucket of decommissioned edges.
const RetiredBucket = "edges_retired"

// Start starts the hub server and ensures its streams.
func Start(ctx context.Context, o Options) (*Hub, error) {
	if o.Retention == 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var s *embednats.Server
	var err error
	if o.URL != "" {
		s, err = embednats.Connect(o.URL, "clickagg-core")
	} else {
		s, err = embednats.Start(embednats.Options{Name: "hub", Dir: o.Dir, Domain: wire.HubDomain,
			LeafListen: o.LeafListen, ClientListen: o.ClientListen, Logger: o.Logger})
	}
	if err != nil {
		return nil, err
	}
	h := &Hub{Server: s, o: o}
	for _, name := range []string{wire.PartialsStream, wire.RawStream} {
		_, err := s.JS.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = s.JS.CreateStream(ctx, jetstream.StreamConfig{Name: name, Storage: jetstream.FileStorage,
				MaxAge: o.Retention, Duplicates: 2 * time.Minute,
				// No subjects of its own: it only sources edges (FINDINGS).
				Subjects: []string{"clickagg.hub." + name}})
		}
		if err != nil {
			s.Shutdown()
			return nil, fmt.Errorf("hub stream %s: %w", name, err)
		}
	}
	if h.retired, err = s.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: RetiredBucket, History: 1,
		Storage: jetstream.FileStorage}); err != nil {
		s.Shutdown()
		return nil, fmt.Errorf("hub: %w", err)
	}
	if err := h.loadEdges(ctx); err != nil {
		s.Shutdown()
		return nil, err
	}
	if h.sub, err = s.NC.Subscribe(wire.RegisterSubject, h.handleRegister); err != nil {
		s.Shutdown()
		return nil, err
	}
	h.latest = map[string]wire.EdgeStatus{}
	if h.status, err = s.NC.Subscribe(wire.StatusWildcard, h.handleStatus); err != nil {
		s.Shutdown()
		return nil, err
	}
	return h, nil
}

func (h *Hub) handleRegister(m *nats.Msg) {
	var req wire.Registration
	var reply wire.RegistrationReply
	if err := json.Unmarshal(m.Data, &req); err != nil {
		reply.Error = "bad registration: " + err.Error()
	} else if err := h.Register(context.Background(), req.EdgeID); err != nil {
		reply.Error = err.Error()
	}
	b, _ := json.Marshal(reply)
	m.Respond(b)
}

func (h *Hub) handleStatus(m *nats.Msg) {
	var st wire.EdgeStatus
	if json.Unmarshal(m.Data, &st) != nil || m.Subject != wire.StatusSubject(st.EdgeID) {
		return // malformed, or an edge speaking for another
	}
	h.smu.Lock()
	h.latest[st.EdgeID] = st
	h.smu.Unlock()
}

// Status returns the last status each edge reported.
func (h *Hub) Status() map[string]wire.EdgeStatus {
	h.smu.Lock()
	defer h.smu.Unlock()
	return maps.Clone(h.latest)
}

// Register makes the hub source an edge's streams through the edge's durable
// consumers. It is idempotent.
func (h *Hub) Register(ctx context.Context, edge string) error {
	if err := wire.CheckEdgeID(edge); err != nil {
		return err
	}
	if _, err := h.retired.Get(ctx, edge); err == nil {
		return fmt.Errorf("edge %s is decommissioned; an admin can re-admit it with PUT /v1/edges/%s", edge, edge)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range [][2]string{{wire.PartialsStream, wire.PartialsStream}, {wire.RawStream, wire.ClicksStream}} {
		s, err := h.JS.Stream(ctx, p[0])
		if err != nil {
			return err
		}
		cfg := s.CachedInfo().Config
		if slices.ContainsFunc(cfg.Sources, func(src *jetstream.StreamSource) bool { return sourceEdge(src) == edge }) {
			continue
		}
		name, deliver := wire.SourceConsumer(p[1], edge)
		cfg.Sources = append(cfg.Sources, &jetstream.StreamSource{Name: p[1], Domain: edge,
			Consumer: &jetstream.StreamConsumerSource{Name: name, DeliverSubject: deliver}})
		if _, err := h.JS.UpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("source %s from edge %s: %w", p[1], edge, err)
		}
		h.o.Logger.Info("edge sourced", "edge", edge, "stream", p[0])
	}
	return h.loadEdges(ctx)
}

// Readmit lets a decommissioned edge register again.
func (h *Hub) Readmit(ctx context.Context, edge string) error {
	if err := h.retired.Purge(ctx, edge); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	return nil
}

// Deregister stops sourcing an edge (decommission) and refuses its registrations
// from now on. What was sourced stays.
func (h *Hub) Deregister(ctx context.Context, edge string) error {
	if _, err := h.retired.Put(ctx, edge, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range []string{wire.PartialsStream, wire.RawStream} {
		s, err := h.JS.Stream(ctx, name)
		if err != nil {
			return err
		}
		cfg := s.CachedInfo().Config
		n := len(cfg.Sources)
		cfg.Sources = slices.DeleteFunc(cfg.Sources, func(src *jetstream.StreamSource) bool { return sourceEdge(src) == edge })
		if len(cfg.Sources) == n {
			continue
		}
		if _, err := h.JS.UpdateStream(ctx, cfg); err != nil {
			return err
		}
	}
	return h.loadEdges(ctx)
}

// Edges lists the registered edges, from memory: every query asks (for
// complete_through), and a JetStream request per query queued them behind a busy
// hub (clickbench: p99 > 100 ms).
func (h *Hub) Edges(ctx context.Context) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.edges), nil
}

// loadEdges reads the edge list from the PARTIALS stream's sources. The caller
// holds mu, or is Start.
func (h *Hub) loadEdges(ctx context.Context) error {
	s, err := h.JS.Stream(ctx, wire.PartialsStream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	h.edges = h.edges[:0]
	for _, src := range info.Config.Sources {
		if e := sourceEdge(src); e != "" {
			h.edges = append(h.edges, e)
		}
	}
	slices.Sort(h.edges)
	return nil
}

// sourceEdge returns the edge a source reads from: its domain, which the client
// library folds into External.APIPrefix ("$JS.<domain>.API").
func sourceEdge(src *jetstream.StreamSource) string {
	if src.Domain != "" {
		return src.Domain
	}
	if src.External != nil {
		var d string
		if n, _ := fmt.Sscanf(src.External.APIPrefix, "$JS.%s", &d); n == 1 && len(d) > 4 {
			return d[:len(d)-4] // strip ".API"
		}
	}
	return ""
}

// Close stops the hub.
func (h *Hub) Close() {
	if h.sub != nil {
		h.sub.Unsubscribe()
	}
	if h.status != nil {
		h.status.Unsubscribe()
	}
	h.Shutdown()
}
