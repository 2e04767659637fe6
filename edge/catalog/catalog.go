// Package catalog is the edge's copy of the ads and token signing keys. The core
// writes them to a KV bucket at the hub; each edge mirrors that bucket's stream into
// its own JetStream domain and keeps it in memory here, so an edge answers clicks
// from its own disk while the core or the link is down, and after a restart.
package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/pkg/token"
	"github.com/clickagg/clickagg/pkg/wire"
)

// Catalog is safe for concurrent use; lookups take a read lock and do not allocate.
type Catalog struct {
	Keys token.Keyring

	mu  sync.RWMutex
	ads map[string]entry

	updates atomic.Uint64

	// OnFilter, when set before Follow, is told about every partner filter record
	// (spec nil when deleted).
	OnFilter func(name string, spec *wire.Filter)

	// hub, when set, is read on a miss: an ad registered a moment ago may not have
	// reached the mirror yet. Misses are rate limited (missBudget per second) so
	// that garbage tokens cannot turn into a flood of hub reads.
	nc         *nats.Conn // the edge's connection; Resolve asks the hub through it
	missMu     sync.Mutex
	missSecond int64
	missLeft   int
}

// missBudget is how many hub reads misses may cause per second.
const missBudget = 100

// SetHub enables reads from the hub's bucket on a miss, through nc. Call it before
// the catalogue is shared.
func (c *Catalog) SetHub(nc *nats.Conn) { c.nc = nc }

// directGet is the hub's JetStream direct-get subject for a catalogue key: one
// request, no consumer, answered by the hub across the leafnode link.
func directGet(key string) string {
	return "$JS." + wire.HubDomain + ".API.DIRECT.GET.KV_" + wire.CatalogBucket + ".$KV." + wire.CatalogBucket + "." + key
}

// Resolve reads key from the hub (when enabled and within budget) and applies it.
// It reports whether it found the entry.
func (c *Catalog) Resolve(ctx context.Context, key string) bool {
	if c.nc == nil {
		return false
	}
	c.missMu.Lock()
	if now := time.Now().Unix(); now != c.missSecond {
		c.missSecond, c.missLeft = now, missBudget
	}
	ok := c.missLeft > 0
	c.missLeft--
	c.missMu.Unlock()
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	m, err := c.nc.RequestWithContext(ctx, directGet(key), nil)
	if err != nil || m.Header.Get("Status") != "" || len(m.Data) == 0 {
		return false // no answer, or 404/408 from the hub
	}
	if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
		return false
	}
	return c.Apply(key, m.Data, false) == nil
}

// entry keeps the id string so lookups by []byte can return it without allocating.
type entry struct {
	id string
	wire.Ad
}

// New returns an empty catalogue.
func New() *Catalog { return &Catalog{ads: make(map[string]entry)} }

// Ad returns the ad with id, and id as the catalogue's string (no allocation).
func (c *Catalog) Ad(id []byte) (string, wire.Ad, bool) {
	c.mu.RLock()
	e, ok := c.ads[string(id)]
	c.mu.RUnlock()
	return e.id, e.Ad, ok
}

// Len is the number of ads held.
func (c *Catalog) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.ads)
}

// Updates is the number of catalogue entries applied.
func (c *Catalog) Updates() uint64 { return c.updates.Load() }

// Apply applies one KV entry: key as in the bucket, deleted for a delete or purge.
// An entry that does not decode is an error and changes nothing.
func (c *Catalog) Apply(key string, value []byte, deleted bool) error {
	kind, id, ok := wire.ParseCatalogKey(key)
	if !ok {
		return nil // not ours; newer cores may add kinds
	}
	c.updates.Add(1)
	switch kind {
	case "ad":
		if deleted {
			c.mu.Lock()
			delete(c.ads, id)
			c.mu.Unlock()
			return nil
		}
		a, err := wire.DecodeAd(value)
		if err != nil {
			return fmt.Errorf("ad %s: %w", id, err)
		}
		c.mu.Lock()
		c.ads[id] = entry{id, a}
		c.mu.Unlock()
	case "filter":
		if c.OnFilter == nil {
			return nil
		}
		if deleted {
			c.OnFilter(id, nil)
			return nil
		}
		var f wire.Filter
		if err := json.Unmarshal(value, &f); err != nil {
			return fmt.Errorf("filter %s: %w", id, err)
		}
		c.OnFilter(id, &f)
	case "signkey":
		kid, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return fmt.Errorf("signing key id %q: %w", id, err)
		}
		if deleted {
			c.Keys.Set(uint32(kid), nil)
			return nil
		}
		var k wire.SigningKey
		if err := json.Unmarshal(value, &k); err != nil || len(k.Key) < 16 {
			return fmt.Errorf("signing key %d: bad record", kid)
		}
		c.Keys.Set(uint32(kid), k.Key)
	}
	return nil
}

// MirrorConfig is the edge stream that mirrors the hub's catalogue bucket.
func MirrorConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              wire.CatalogMirror,
		Mirror:            &jetstream.StreamSource{Name: "KV_" + wire.CatalogBucket, Domain: wire.HubDomain},
		MaxMsgsPerSubject: 1,
		Storage:           jetstream.FileStorage,
	}
}

// Follow applies the mirror stream to c, first what the edge already holds, then
// every update, until ctx ends. loaded is closed once the entries present at the
// start are applied, so an edge can hold its listener until it knows its ads.
func Follow(ctx context.Context, js jetstream.JetStream, c *Catalog, log *slog.Logger, loaded chan<- struct{}) error {
	s, err := js.Stream(ctx, wire.CatalogMirror)
	if err != nil {
		return fmt.Errorf("catalogue mirror: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("catalogue mirror: %w", err)
	}
	target := info.State.LastSeq
	var once sync.Once
	markLoaded := func() { once.Do(func() { close(loaded) }) }
	if target == 0 {
		markLoaded()
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("catalogue consumer: %w", err)
	}
	prefix := "$KV." + wire.CatalogBucket + "."
	cc, err := cons.Consume(func(m jetstream.Msg) {
		key := strings.TrimPrefix(m.Subject(), prefix)
		op := m.Headers().Get("KV-Operation")
		if err := c.Apply(key, m.Data(), op == "DEL" || op == "PURGE"); err != nil {
			log.Error("catalogue entry rejected", "key", key, "err", err)
		}
		if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= target {
			markLoaded()
		}
	})
	if err != nil {
		return fmt.Errorf("catalogue consume: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}
