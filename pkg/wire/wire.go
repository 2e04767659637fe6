// Package wire is everything that crosses the NATS link between edges and the core:
// subject and stream names, the catalogue records edges mirror, the raw click batches
// edges journal and forward, and the partial minute counts the core merges. Edge and
// core import it; it imports neither. All formats are versioned so an edge and a core
// of different releases can tell what they read; the byte layouts are drawn in
// FORMAT.md next to this file.
package wire

import (
	"fmt"
	"regexp"
)

// NATS names. Each edge runs its own JetStream domain (its edge id) with two streams;
// the hub sources both into streams of its own that have no subjects (see
// ../../shared/FINDINGS.md: a hub stream with overlapping subjects would store every
// message twice).
const (
	// HubDomain is the core's JetStream domain.
	HubDomain = "hub"
	// ClicksStream is the edge stream of raw click batches: the edge's durable journal,
	// written before a click's 302. The hub's RawStream sources it.
	ClicksStream = "CLICKS"
	// PartialsStream is the edge stream of partial minute counts and heartbeats. The
	// hub stream of the same name sources every edge's.
	PartialsStream = "PARTIALS"
	// RawStream is the hub stream that sources every edge's ClicksStream.
	RawStream = "RAW"
	// CatalogBucket is the hub KV bucket of ads and signing keys; edges mirror its
	// stream into a local stream named CatalogMirror so redirects keep working while
	// the core or the link is down.
	CatalogBucket = "catalog"
	CatalogMirror = "CATALOG"
	// RegisterSubject is where an edge asks the core to source its streams.
	RegisterSubject = "clickagg.core.register"
)

// ClicksSubject is the subject of an edge's raw click batches.
func ClicksSubject(edge string) string { return "clickagg.clicks." + edge }

// PartialsSubject is the subject of an edge's partials and heartbeats.
func PartialsSubject(edge string) string { return "clickagg.partials." + edge }

// SourceConsumer names the durable push consumer on an edge stream that the hub's
// durable sourcing reads through, and the subject it delivers to. The deliver
// subject carries the edge id so that deliveries from different edges never meet.
func SourceConsumer(stream, edge string) (name, deliver string) {
	return "hub-" + stream, "clickagg.src." + edge + "." + stream
}

var edgeIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ValidEdgeID reports whether id can name an edge: [a-z0-9][a-z0-9-]{0,31}. It is
// also the edge's JetStream domain and a subject token.
func ValidEdgeID(id string) bool { return edgeIDRe.MatchString(id) && id != HubDomain }

// CheckEdgeID returns a descriptive error for an invalid edge id.
func CheckEdgeID(id string) error {
	if !ValidEdgeID(id) {
		return fmt.Errorf("edge id %q must match [a-z0-9][a-z0-9-]{0,31} and not be %q", id, HubDomain)
	}
	return nil
}

// Registration is the JSON body of a request on RegisterSubject.
type Registration struct {
	EdgeID string `json:"edge_id"`
}

// RegistrationReply answers a Registration; Error is empty on success.
type RegistrationReply struct {
	Error string `json:"error,omitempty"`
}

// StatusSubject is where an edge publishes its EdgeStatus (plain NATS, no
// JetStream: only the latest matters, and a cut-off edge's silence is itself news).
func StatusSubject(edge string) string { return "clickagg.status." + edge }

// StatusWildcard matches every edge's status subject.
const StatusWildcard = "clickagg.status.*"

// EdgeStatus is an edge's periodic report (JSON), for operators.
type EdgeStatus struct {
	EdgeID   string         `json:"edge_id"`
	AtMs     int64          `json:"at_ms"`    // when it was taken, edge clock
	Buffered uint64         `json:"buffered"` // partials the hub has not yet taken
	Pending  int            `json:"journal_pending"`
	Dedup    int            `json:"dedup_impressions"`
	Filters  []FilterStatus `json:"filters"`
}

// FilterStatus is one filter's counters at an edge since it was loaded.
type FilterStatus struct {
	Name     string `json:"name"`
	Version  int    `json:"version"`
	Calls    uint64 `json:"calls"`
	Accepts  uint64 `json:"accepts"`
	Rejects  uint64 `json:"rejects"`
	Flags    uint64 `json:"flags"`
	Traps    uint64 `json:"traps"`
	Timeouts uint64 `json:"timeouts"`
}
