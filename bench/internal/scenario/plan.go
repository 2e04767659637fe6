package scenario

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clickagg/clickagg/bench/internal/zipf"
)

// kind is what a planned click is.
type kind uint8

const (
	kindFirst     kind = iota // the first click of a new impression: counted once
	kindDup                   // an impression clicked again at the same edge: 302, not counted
	kindCrossDup              // an impression clicked again at another edge (see Config.CrossEdgeDups)
	kindMalformed             // not a token: 400
	kindTampered              // a real token with one bit of its MAC flipped: 403
	kinds
)

var kindNames = [kinds]string{"first", "duplicate", "cross-edge duplicate", "malformed", "tampered"}

// countries are the X-Geo-Country values, drawn with these weights.
var countries = []struct {
	code   string
	weight float64
}{{"US", 30}, {"DE", 12}, {"GB", 10}, {"FR", 9}, {"JP", 8}, {"BR", 7}, {"IN", 7}, {"CA", 5}, {"ES", 4}, {"IT", 4}, {"NL", 2}, {"SE", 2}}

// ad is one registered ad and the impressions minted for it.
type ad struct {
	id   string
	imps []int32 // indices into plan.imps, in minting order
}

// impression is one minted click token and what happened to it.
type impression struct {
	ad   int32
	edge uint8 // where its first click goes
	path string
	// answered has bit e set once edge e answered one of its clicks with a 302;
	// unsure has bit e set when a click at edge e got no answer (it may or may not
	// have been recorded).
	answered, unsure atomic.Uint32
}

// click is one planned request of the main load.
type click struct {
	imp     int32
	kind    kind
	edge    uint8
	country uint8
	ip      uint32
	user    uint32
}

// plan is everything the run will send, drawn before any request so the hot path
// only sends: the ads the Zipf draw hit, their impressions, and the clicks.
type plan struct {
	prefix string
	ads    []ad
	drawn  int // ads[:drawn] are the Zipf-drawn ones
	byRank map[int64]int32
	imps   []impression
	clicks []click
	// probe[e] and capacity are the impressions of the freshness probes at edge e
	// and of the closed-loop capacity phase (their own ads, not Zipf-drawn).
	probe    [][]int32
	capacity []int32
}

// newPlan draws cfg.Rate × cfg.Duration clicks.
func newPlan(cfg *Config, nEdges int) (*plan, error) {
	r := rand.New(rand.NewPCG(cfg.Seed, 0x636c69636b))
	z, err := zipf.New(r, cfg.Ads, cfg.ZipfS)
	if err != nil {
		return nil, err
	}
	p := &plan{prefix: fmt.Sprintf("cb%06x", r.Uint32()&0xffffff), byRank: map[int64]int32{}}
	n := int(cfg.Rate * cfg.Duration.Seconds())
	p.clicks = make([]click, n)
	cum := countryCDF()
	for i := range p.clicks {
		c := &p.clicks[i]
		c.country, c.ip, c.user = pickCountry(r, cum), r.Uint32N(uint32(cfg.IPs)), r.Uint32N(uint32(cfg.Users))
		p.drawKind(r, z, c, cfg, nEdges)
	}
	p.drawn = len(p.ads)
	for e := range nEdges {
		p.probe = append(p.probe, p.newImps(fmt.Sprintf("%s-fresh-%d", p.prefix, e), uint8(e), cfg.probes()))
	}
	// Capacity tokens go to 16 ads: one POST of ≤ 10000 each mints them.
	per := (cfg.CapacityTokens + 15) / 16
	for j := 0; j < 16 && per > 0 && cfg.CapacityDuration > 0; j++ {
		p.capacity = append(p.capacity, p.newImps(fmt.Sprintf("%s-cap-%02d", p.prefix, j), 0, min(per, maxMint))...)
	}
	return p, nil
}

func (p *plan) drawKind(r *rand.Rand, z *zipf.Sampler, c *click, cfg *Config, nEdges int) {
	u := r.Float64()
	have := len(p.imps) > 0
	switch {
	case u < cfg.InvalidFraction && have:
		c.kind, c.imp = kindMalformed+kind(r.IntN(2)), int32(r.IntN(len(p.imps)))
		c.edge = uint8(r.IntN(nEdges))
	case u < cfg.InvalidFraction+cfg.DupFraction && have:
		c.kind, c.imp = kindDup, p.recent(r)
		c.edge = p.imps[c.imp].edge
	case u < cfg.InvalidFraction+cfg.DupFraction+cfg.CrossEdgeDups && have && nEdges > 1:
		c.kind, c.imp = kindCrossDup, p.recent(r)
		c.edge = uint8((int(p.imps[c.imp].edge) + 1 + r.IntN(nEdges-1)) % nEdges)
	default:
		rank := z.Rank()
		a, ok := p.byRank[rank]
		if !ok {
			a = int32(len(p.ads))
			p.byRank[rank] = a
			p.ads = append(p.ads, ad{id: fmt.Sprintf("%s-%08d", p.prefix, rank)})
		}
		c.kind, c.edge = kindFirst, uint8(r.IntN(nEdges))
		c.imp = int32(len(p.imps))
		p.imps = append(p.imps, impression{ad: a, edge: c.edge})
		p.ads[a].imps = append(p.ads[a].imps, c.imp)
	}
}

// recent picks one of the last 5000 impressions: users click again soon.
func (p *plan) recent(r *rand.Rand) int32 {
	n := len(p.imps)
	return int32(n - 1 - r.IntN(min(n, 5000)))
}

// newImps adds an ad with n impressions whose first click goes to edge.
func (p *plan) newImps(id string, edge uint8, n int) []int32 {
	a := int32(len(p.ads))
	p.ads = append(p.ads, ad{id: id})
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(len(p.imps))
		p.imps = append(p.imps, impression{ad: a, edge: edge})
	}
	p.ads[a].imps = out
	return out
}

func countryCDF() []float64 {
	var sum float64
	for _, c := range countries {
		sum += c.weight
	}
	cum, acc := make([]float64, len(countries)), 0.0
	for i, c := range countries {
		acc += c.weight / sum
		cum[i] = acc
	}
	return cum
}

func pickCountry(r *rand.Rand, cum []float64) uint8 {
	u := r.Float64()
	for i, c := range cum {
		if u < c {
			return uint8(i)
		}
	}
	return uint8(len(cum) - 1)
}

// path is the request path of click c.
func (p *plan) path(c *click, i int) string {
	switch c.kind {
	case kindMalformed:
		return fmt.Sprintf("/c/not-a-token-%d!", i)
	case kindTampered:
		return tamper(p.imps[c.imp].path)
	}
	return p.imps[c.imp].path
}

// tamper flips one bit of the token's last byte (inside its MAC).
func tamper(path string) string {
	tok := strings.TrimPrefix(path, "/c/")
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) == 0 {
		return path + "x"
	}
	raw[len(raw)-1] ^= 1
	return "/c/" + base64.RawURLEncoding.EncodeToString(raw)
}

// register registers every ad of the plan and mints its impressions, with workers
// requests in flight. Only the ads the draw hit are registered: PUT-ing all 10M
// one by one would take longer than the whole run.
func (p *plan) register(ctx context.Context, a *api, workers int, progress func(done, total int)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next, done atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	last := time.Now()
	var mu sync.Mutex
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(p.ads) {
					return
				}
				if err := p.registerAd(ctx, a, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
				d := int(done.Add(1))
				mu.Lock()
				if time.Since(last) > 5*time.Second && progress != nil {
					last = time.Now()
					progress(d, len(p.ads))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func (p *plan) registerAd(ctx context.Context, a *api, i int) error {
	ad := &p.ads[i]
	if err := a.putAd(ctx, ad.id, fmt.Sprintf("adv-%02d", i%50)); err != nil {
		return fmt.Errorf("register ad %s: %w", ad.id, err)
	}
	for off := 0; off < len(ad.imps); off += maxMint {
		n := min(maxMint, len(ad.imps)-off)
		paths, err := a.mint(ctx, ad.id, n)
		if err != nil {
			return fmt.Errorf("mint for %s: %w", ad.id, err)
		}
		for k, path := range paths {
			p.imps[ad.imps[off+k]].path = path
		}
	}
	return nil
}
