package raw

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/core/merge"
	"github.com/clickagg/clickagg/core/rawfile"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/embednats"
	"github.com/clickagg/clickagg/pkg/wire"
)

// hub is an embedded JetStream whose RAW stream sources one journal stream per
// edge, as the real hub sources each edge's CLICKS across a leafnode.
type hub struct {
	t    testing.TB
	js   jetstream.JetStream
	seqs map[string]uint64
}

func startHub(t testing.TB) *hub {
	t.Helper()
	s, err := embednats.Start(embednats.Options{Name: "hub", Dir: t.TempDir(), Domain: "hub", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	ctx := context.Background()
	var srcs []*jetstream.StreamSource
	for _, e := range []string{"pop-a", "pop-b"} {
		if _, err := s.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "CLICKS-" + e, Subjects: []string{wire.ClicksSubject(e)}}); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, &jetstream.StreamSource{Name: "CLICKS-" + e})
	}
	if _, err := s.JS.CreateStream(ctx, jetstream.StreamConfig{Name: wire.RawStream, Sources: srcs}); err != nil {
		t.Fatal(err)
	}
	return &hub{t: t, js: s.JS, seqs: map[string]uint64{}}
}

const epoch = 0x1234

// publish sends one edge journal batch as the hub would have sourced it.
func (h *hub) publish(edge string, cs ...wire.Click) {
	h.t.Helper()
	h.seqs[edge]++
	m := nats.NewMsg(wire.ClicksSubject(edge))
	m.Data = wire.AppendClicks(nil, cs)
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s.%x.beef.%d", edge, epoch, h.seqs[edge]))
	if _, err := h.js.PublishMsg(context.Background(), m); err != nil {
		h.t.Fatal(err)
	}
}

// fakeMerge stands for the merger: its progress is what the test says, and it
// records reconciliations.
type fakeMerge struct {
	mu   sync.Mutex
	prog map[string]merge.Progress
	have map[int64]map[string]uint64 // minute → ad → merged clicks
	got  map[int64][]wire.Cell
}

func (f *fakeMerge) progress() map[string]merge.Progress {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]merge.Progress{}
	for k, v := range f.prog {
		out[k] = v
	}
	return out
}

func (f *fakeMerge) reconcile(_ context.Context, mi int64, want []wire.Cell) ([]merge.Adjustment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got[mi] = want
	var adj []merge.Adjustment
	for _, c := range want {
		if h := f.have[mi][c.AdID]; h != c.Clicks {
			adj = append(adj, merge.Adjustment{Minute: mi, AdID: c.AdID, Country: c.Country, Before: h, After: c.Clicks})
		}
	}
	return adj, nil
}

func (f *fakeMerge) deliver(edge string, through uint64, wm time.Time) {
	f.mu.Lock()
	f.prog[edge] = merge.Progress{Epoch: epoch, Through: through, WatermarkMs: wm.UnixMilli()}
	f.mu.Unlock()
}

func open(t testing.TB, h *hub, dir string, f *fakeMerge, now time.Time) *Store {
	t.Helper()
	s, err := Open(Options{JS: h.js, Dir: dir, Edges: func(context.Context) ([]string, error) { return []string{"pop-a", "pop-b"}, nil },
		Progress: f.progress, Reconcile: f.reconcile, Tick: 20 * time.Millisecond, Now: func() time.Time { return now },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func run(t *testing.T, s *Store) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	return func() {
		cancel()
		<-done
		s.Close()
	}
}

func waitSealed(t *testing.T, s *Store, mi int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Sealed() < mi {
		if time.Now().After(deadline) {
			t.Fatalf("sealed %d, want %d", s.Sealed(), mi)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func imp(n byte) [16]byte { return [16]byte{n, 1, 2, 3} }

func clickAt(t time.Time, id byte, ad, ip, user string, o wire.Outcome) wire.Click {
	return wire.Click{TimeMs: t.UnixMilli(), Outcome: o, ImpressionID: imp(id), ExpiresAt: t.Add(time.Hour).Unix(),
		AdID: ad, UserID: user, Country: [2]byte{'D', 'E'}, IP: netip.MustParseAddr(ip)}
}

// A sealed minute counts the first click of each impression across edges, takes
// out rejected clicks and IP bursts, and reconciles the merge with the recount.
func TestSealRecountAndFraud(t *testing.T) {
	h := startHub(t)
	now := time.Now().Truncate(time.Minute).Add(-10 * time.Minute)
	m0 := now.Unix() / 60
	f := &fakeMerge{prog: map[string]merge.Progress{}, have: map[int64]map[string]uint64{m0: {"ad1": 2, "ad2": 25}}, got: map[int64][]wire.Cell{}}
	s := open(t, h, t.TempDir(), f, now.Add(5*time.Minute))
	stop := run(t, s)
	defer stop()

	t0 := now.Add(10 * time.Second)
	// Impression 1 at pop-a, then at pop-b a second *earlier*: pop-b's counts.
	h.publish("pop-a", clickAt(t0.Add(time.Second), 1, "ad1", "10.0.0.1", "u1", wire.OutcomeCounted),
		clickAt(t0, 2, "ad1", "10.0.0.2", "u2", wire.OutcomeCounted),
		clickAt(t0, 3, "ad1", "10.0.0.3", "u3", wire.OutcomeFiltered))
	h.publish("pop-b", clickAt(t0.Add(500*time.Millisecond), 1, "ad1", "10.0.0.9", "u1", wire.OutcomeCounted))
	// 25 clicks from one IP on ad2: 20 count as billable, 5 are an ip-burst.
	var burst []wire.Click
	for i := range 25 {
		burst = append(burst, clickAt(t0.Add(time.Duration(i)*time.Millisecond), byte(100+i), "ad2", "192.0.2.7", "bot", wire.OutcomeCounted))
	}
	h.publish("pop-b", burst...)
	// Nothing is sealed before both edges have delivered.
	f.deliver("pop-a", 1, now.Add(2*time.Minute))
	time.Sleep(200 * time.Millisecond)
	if s.Sealed() >= m0 {
		t.Fatal("sealed before pop-b delivered")
	}
	f.deliver("pop-b", 2, now.Add(2*time.Minute))
	waitSealed(t, s, m0+1)

	cells := f.got[m0]
	if len(cells) != 2 || cells[0].AdID != "ad1" || cells[0].Clicks != 2 || cells[1].AdID != "ad2" || cells[1].Clicks != 25 {
		t.Fatalf("recount %+v", cells)
	}
	rep := s.Reconciliation(m0, m0+2)
	if rep.MinutesSealed != 2 || rep.MinutesChecked != 2 || rep.Mismatches != 0 || rep.Subtracted != 5 || rep.Counted != 27 {
		t.Fatalf("report %+v", rep)
	}
	if sub := rep.Subtractions[0]; sub.Rule != RuleIPBurst || sub.IP != "192.0.2.7" || sub.Clicks != 5 {
		t.Fatalf("subtraction %+v", sub)
	}
	ctx := context.Background()
	// The filters: pop-b's click of impression 1 came from 10.0.0.9.
	for _, c := range []struct {
		q      Query
		clicks uint64
		bill   uint64
	}{
		{Query{AdID: "ad1", IP: "10.0.0.9"}, 1, 1},
		{Query{AdID: "ad1", IP: "10.0.0.1"}, 0, 0},
		{Query{AdID: "ad1", UserID: "u2"}, 1, 1},
		{Query{AdID: "ad1", IP: "10.0.0.3"}, 0, 0}, // filtered out at the edge
		{Query{AdID: "ad2", IP: "192.0.2.7"}, 25, 20},
		{Query{AdID: "ad2", UserID: "bot", Country: "DE"}, 25, 20},
		{Query{AdID: "ad2", UserID: "bot", Country: "FR"}, 0, 0},
	} {
		c.q.From, c.q.To = m0, m0+1
		series, err := s.Series(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if series[0].Clicks != c.clicks || series[0].Billable != c.bill {
			t.Errorf("%+v: %+v, want %d/%d", c.q, series[0], c.clicks, c.bill)
		}
	}
	top, err := s.Top(ctx, 10, Query{From: m0, To: m0 + 1, Country: "DE"}, nil)
	if err != nil || len(top) != 2 || top[0] != (AdCount{"ad2", 25, 20}) || top[1] != (AdCount{"ad1", 2, 2}) {
		t.Fatalf("top %+v %v", top, err)
	}
	if n := s.Subtracted("ad2", m0, m0+1, window.Filter{}); n != 5 {
		t.Fatalf("subtracted %d", n)
	}
}

// A merge that counted wrong is adjusted; a click that reaches the raw store after
// its minute was sealed is stored late and found by queries; a restart neither
// loses nor repeats a record.
func TestMismatchLateAndRestart(t *testing.T) {
	h := startHub(t)
	dir := t.TempDir()
	now := time.Now().Truncate(time.Minute).Add(-10 * time.Minute)
	m0 := now.Unix() / 60
	f := &fakeMerge{prog: map[string]merge.Progress{}, have: map[int64]map[string]uint64{m0: {"ad1": 3}}, got: map[int64][]wire.Cell{}}
	s := open(t, h, dir, f, now.Add(5*time.Minute))
	stop := run(t, s)
	t0 := now.Add(time.Second)
	h.publish("pop-a", clickAt(t0, 1, "ad1", "10.0.0.1", "u1", wire.OutcomeCounted), clickAt(t0, 2, "ad1", "10.0.0.2", "u2", wire.OutcomeCounted))
	h.publish("pop-b") // an empty batch: pop-b has delivered up to here
	f.deliver("pop-a", 1, now.Add(90*time.Second))
	f.deliver("pop-b", 1, now.Add(90*time.Second))
	waitSealed(t, s, m0)
	rep := s.Reconciliation(m0, m0+1)
	if rep.Mismatches != 1 || len(rep.Adjustments) != 1 || rep.Adjustments[0].Merged != 3 || rep.Adjustments[0].Recounted != 2 {
		t.Fatalf("report %+v", rep)
	}
	// A late click for the sealed minute, and one for the open minute.
	h.publish("pop-a", clickAt(t0.Add(2*time.Second), 3, "ad1", "10.0.0.3", "u3", wire.OutcomeCounted),
		clickAt(t0.Add(70*time.Second), 4, "ad1", "10.0.0.4", "u4", wire.OutcomeCounted))
	deadline := time.Now().Add(5 * time.Second)
	for s.Unsealed() != 1 || s.lateRows.Get() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("unsealed %d, late %d", s.Unsealed(), s.lateRows.Get())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a few ticks: the late record is written
	stop()

	// Reopen: the unsealed click is read again from the stream, the late one is not
	// written twice, and the impression set comes back from the files.
	s = open(t, h, dir, f, now.Add(5*time.Minute))
	stop = run(t, s)
	defer stop()
	h.publish("pop-b", clickAt(t0.Add(80*time.Second), 1, "ad1", "10.0.0.1", "u1", wire.OutcomeCounted)) // impression 1 again
	f.deliver("pop-a", 2, now.Add(150*time.Second))
	f.deliver("pop-b", 2, now.Add(150*time.Second))
	waitSealed(t, s, m0+1)
	series, err := s.Series(context.Background(), Query{From: m0, To: m0 + 2, AdID: "ad1"})
	if err != nil {
		t.Fatal(err)
	}
	if series[0].Clicks != 3 || series[1].Clicks != 1 {
		t.Fatalf("series %+v, want 3 then 1", series)
	}
	var rows int
	s.files.Scan(context.Background(), m0, m0+2, rawfile.Pred{}, func(*rawfile.Row) error { rows++; return nil })
	if rows != 5 {
		t.Fatalf("%d rows stored, want 5", rows)
	}
}

func TestJournalPosition(t *testing.T) {
	for _, c := range []struct {
		id, src string
		want    position
		ok      bool
	}{
		{"pop-a.1a2b.beef.7", "CLICKS:pop-a 42 > > CLICKS", position{0x1a2b, 42}, true},
		{"pop-a.1a2b.beef", "CLICKS 42", position{}, false},
		{"pop-a.zz.beef.7", "CLICKS 42", position{}, false},
		{"pop-a.1a2b.beef.7", "CLICKS", position{}, false},
		{"pop-a.1a2b.beef.7", "CLICKS x", position{}, false},
	} {
		got, ok := journalPosition(c.id, c.src)
		if got != c.want || ok != c.ok {
			t.Errorf("%q %q: %v %v", c.id, c.src, got, ok)
		}
	}
}

// A decommissioned edge whose merged clicks the raw store has not read holds no
// minute back, but no minute is reconciled while it is missing: a recount short of
// its clicks would take correct counts away.
func TestDecommissionedEdgeBehind(t *testing.T) {
	h := startHub(t)
	now := time.Now().Truncate(time.Minute).Add(-10 * time.Minute)
	m0 := now.Unix() / 60
	f := &fakeMerge{prog: map[string]merge.Progress{}, have: map[int64]map[string]uint64{m0: {"ad1": 2}}, got: map[int64][]wire.Cell{}}
	s := open(t, h, t.TempDir(), f, now.Add(5*time.Minute))
	stop := run(t, s)
	defer stop()
	h.publish("pop-a", clickAt(now.Add(time.Second), 1, "ad1", "10.0.0.1", "u1", wire.OutcomeCounted))
	h.publish("pop-b")
	f.deliver("pop-a", 1, now.Add(90*time.Second))
	f.deliver("pop-b", 1, now.Add(90*time.Second))
	f.deliver("pop-c", 7, now.Add(90*time.Second)) // merged, never read here, not registered
	waitSealed(t, s, m0)
	rep := s.Reconciliation(m0, m0+1)
	if rep.MinutesSealed != 1 || rep.MinutesChecked != 0 || len(f.got) != 0 {
		t.Fatalf("report %+v, reconciled %v: want sealed, not checked", rep, f.got)
	}
}

// The rules in time order: a flagged click is subtracted by score whatever its
// address; the 3rd and later clicks from one address on one ad are an ip-burst.
func TestRules(t *testing.T) {
	row := func(ad, ip string, score uint32) rawfile.Row {
		return rawfile.Row{AdID: ad, IP: ip, Score: score, Counted: true, Country: "DE"}
	}
	rows := []rawfile.Row{row("a", "1.1.1.1", 0), row("a", "1.1.1.1", 950), row("a", "1.1.1.1", 0), row("a", "1.1.1.1", 0),
		row("b", "1.1.1.1", 0), row("a", "2.2.2.2", 0), {AdID: "a", IP: "1.1.1.1", Score: 999}} // the last did not count
	subs := Rules{IPClicksPerMinute: 2, ScoreAtLeast: 900}.apply(rows)
	var got []string
	for _, r := range rows {
		got = append(got, r.Fraud)
	}
	want := []string{"", RuleFilterScore, "", RuleIPBurst, "", "", ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rules %q, want %q", got, want)
	}
	if len(subs) != 2 || subs[0].Rule != RuleFilterScore || subs[1].Rule != RuleIPBurst || subs[1].Clicks != 1 {
		t.Fatalf("subtractions %+v", subs)
	}
}

// Headers come from the hub; whatever they hold, reading a position never panics
// and a position read back round-trips.
func FuzzJournalPosition(f *testing.F) {
	f.Add("pop-a.1a2b.beef.7", "CLICKS:pop-a 42 > > CLICKS")
	f.Add("", "")
	f.Add("a.b.c.d", "x 18446744073709551615")
	f.Fuzz(func(t *testing.T, id, src string) {
		p, ok := journalPosition(id, src)
		if !ok && p != (position{}) {
			t.Fatalf("not ok but %v", p)
		}
		if ok {
			q, ok2 := journalPosition(fmt.Sprintf("e.%x.b.1", p.epoch), fmt.Sprintf("S %d", p.seq))
			if !ok2 || q != p {
				t.Fatalf("round trip %v → %v", p, q)
			}
		}
	})
}

// An edge that never delivers does not make the store hold its minutes forever:
// after MaxHold they are sealed, stored and queryable, but not reconciled, and the
// report says which edge was missing.
func TestMaxHold(t *testing.T) {
	h := startHub(t)
	now := time.Now().Truncate(time.Minute).Add(-10 * time.Minute)
	m0 := now.Unix() / 60
	f := &fakeMerge{prog: map[string]merge.Progress{}, got: map[int64][]wire.Cell{}}
	s, err := Open(Options{JS: h.js, Dir: t.TempDir(), Edges: func(context.Context) ([]string, error) { return []string{"pop-a", "pop-b"}, nil },
		Progress: f.progress, Reconcile: f.reconcile, Tick: 20 * time.Millisecond, MaxHold: 3 * time.Minute,
		Now: func() time.Time { return now.Add(5 * time.Minute) }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, s)
	defer stop()
	h.publish("pop-a", clickAt(now.Add(time.Second), 1, "ad1", "10.0.0.1", "u1", wire.OutcomeCounted))
	f.deliver("pop-a", 1, now.Add(5*time.Minute)) // pop-b is cut off
	waitSealed(t, s, m0+1)
	rep := s.Reconciliation(m0, m0+2)
	if rep.MinutesSealed != 2 || rep.MinutesChecked != 0 || len(f.got) != 0 || rep.Counted != 1 {
		t.Fatalf("report %+v, reconciled %v", rep, f.got)
	}
	if e := s.rep.minutes[m0]; !strings.Contains(e.Unchecked, "[pop-b]") {
		t.Fatalf("unchecked %q, want it to name pop-b", e.Unchecked)
	}
}

// A restart right before a minute is sealed: the replay must read the whole minute
// again before it is sealed, however many fetches that takes (a seal after the
// first fetch would reconcile the merge down to part of the minute), and records
// of sealed minutes are not written twice.
func TestRestartReplaysBeforeSealing(t *testing.T) {
	h := startHub(t)
	dir := t.TempDir()
	now := time.Now().Truncate(time.Minute).Add(-10 * time.Minute)
	m0 := now.Unix() / 60
	f := &fakeMerge{prog: map[string]merge.Progress{}, got: map[int64][]wire.Cell{}}
	s := open(t, h, dir, f, now.Add(5*time.Minute))
	stop := run(t, s)
	const n = 1500 // three fetches' worth of messages
	for i := range n {
		c := clickAt(now.Add(time.Duration(i)*time.Millisecond), byte(i), "ad1", fmt.Sprintf("10.0.%d.%d", i/250, i%250), "u1", wire.OutcomeCounted)
		c.ImpressionID[4] = byte(i >> 8)
		h.publish("pop-a", c)
	}
	h.publish("pop-b")
	for deadline := time.Now().Add(10 * time.Second); s.Unsealed() != n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d unsealed", s.Unsealed())
		}
	}
	time.Sleep(100 * time.Millisecond) // a tick saves the checkpoint
	stop()
	f.deliver("pop-a", n, now.Add(2*time.Minute))
	f.deliver("pop-b", 1, now.Add(2*time.Minute))
	// Tick after every fetch, so that a seal between fetches would happen.
	s, err := Open(Options{JS: h.js, Dir: dir, Edges: func(context.Context) ([]string, error) { return []string{"pop-a", "pop-b"}, nil },
		Progress: f.progress, Reconcile: f.reconcile, Tick: time.Nanosecond, Now: func() time.Time { return now.Add(5 * time.Minute) },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	stop = run(t, s)
	defer stop()
	waitSealed(t, s, m0)
	f.mu.Lock()
	cells := f.got[m0]
	f.mu.Unlock()
	var got uint64
	for _, c := range cells {
		got += c.Clicks
	}
	if got != n {
		t.Fatalf("minute reconciled to %d clicks, want %d", got, n)
	}
}
