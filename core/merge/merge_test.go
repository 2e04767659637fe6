package merge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/core/hub"
	"github.com/clickagg/clickagg/core/store"
	"github.com/clickagg/clickagg/core/window"
	"github.com/clickagg/clickagg/pkg/minute"
	"github.com/clickagg/clickagg/pkg/wire"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type rig struct {
	t    *testing.T
	dir  string
	hub  *hub.Hub
	st   *store.Store
	win  *window.Window
	m    *Merger
	stop context.CancelFunc
	done chan error
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	h, err := hub.Start(context.Background(), hub.Options{Dir: filepath.Join(dir, "nats"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: filepath.Join(dir, "store"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dir: dir, hub: h, st: st}
	t.Cleanup(func() { r.stopMerger(); st.Close(); h.Close() })
	return r
}

// open opens a merger on the rig's directory (a restart when one ran before).
func (r *rig) open() {
	r.t.Helper()
	r.win = window.New()
	m, err := Open(Options{JS: r.hub.JS, Dir: filepath.Join(r.dir, "merge"), Window: r.win, Store: r.st,
		CommitInterval: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		r.t.Fatal(err)
	}
	r.m = m
}

func (r *rig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.m.Run(ctx) }()
}

func (r *rig) stopMerger() {
	if r.stop != nil {
		r.stop()
		<-r.done
		r.stop = nil
	}
}

var now = time.Now()
var cur = int64(minute.Of(now))

// publish puts a partial into the hub stream as sourcing would, with a fresh
// message id so JetStream's duplicate window does not hide a redelivery.
func (r *rig) publish(p wire.Partial) {
	r.t.Helper()
	p.WatermarkMs = now.UnixMilli()
	_, err := r.hub.JS.Publish(context.Background(), "clickagg.hub."+wire.PartialsStream, wire.AppendPartial(nil, &p),
		jetstream.WithMsgID(p.MsgID()+time.Now().String()))
	if err != nil {
		r.t.Fatal(err)
	}
}

func part(edge string, from, through uint64, ad string, clicks uint64, imps ...byte) wire.Partial {
	p := wire.Partial{Edge: edge, Epoch: 1, FromSeq: from, ThroughSeq: through,
		Cells: []wire.Cell{{Minute: cur, AdID: ad, Country: [2]byte{'U', 'S'}, Clicks: clicks}}}
	for i, b := range imps {
		p.Refs = append(p.Refs, wire.Ref{ImpressionID: [16]byte{b}, TimeMs: now.UnixMilli() + int64(i), ExpiresAt: now.Unix() + 3600})
	}
	return p
}

func (r *rig) wantCount(ad string, want uint64) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, got := r.win.Series(ad, cur, cur+1, window.Filter{})
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: %d clicks, want %d", ad, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Redelivered partials, and partials published again after an edge crash, never
// change a count; a restart restores the counts from the commit log.
func TestRedeliveryAndRestart(t *testing.T) {
	r := newRig(t)
	r.open()
	r.run()
	r.publish(part("e1", 1, 5, "a", 3))
	r.publish(part("e1", 6, 9, "a", 2))
	r.publish(part("e1", 6, 9, "a", 2)) // redelivery
	r.publish(part("e2", 1, 1, "a", 1))
	r.publish(wire.Partial{Edge: "e1", Epoch: 1, FromSeq: 10, ThroughSeq: 9}) // heartbeat
	r.wantCount("a", 6)
	r.stopMerger()

	r.open()
	r.wantCount("a", 6) // from the commit log, before anything is fetched
	r.run()
	r.publish(part("e1", 1, 5, "a", 3)) // old again
	r.publish(part("e1", 10, 12, "a", 4))
	r.wantCount("a", 10)
	time.Sleep(200 * time.Millisecond)
	r.wantCount("a", 10)
	if got := r.m.Stats(context.Background()); got.Duplicates != 1 || got.Merged != 1 {
		t.Fatalf("stats %+v, want 1 duplicate and 1 merged since the restart (it starts after its committed sequence)", got)
	}
	if wm := r.m.Watermarks()["e1"]; wm != now.UnixMilli() {
		t.Fatalf("watermark %d", wm)
	}
}

// A crash after partials were applied but before the commit (and so before the
// ack) loses nothing and counts nothing twice: the restarted merger starts right
// after the last committed sequence.
func TestCrashBetweenApplyAndAck(t *testing.T) {
	r := newRig(t)
	r.open()
	r.run()
	r.publish(part("e1", 1, 1, "a", 1))
	r.wantCount("a", 1)
	r.stopMerger() // committed

	r.open()
	cons, err := r.m.consumer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.publish(part("e1", 2, 3, "a", 2))
	r.publish(part("e1", 4, 4, "a", 5))
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		r.m.apply(msg)
	}
	r.wantCount("a", 8)
	r.m.log.close() // crash: applied in memory, never committed nor acked

	r.open()
	r.wantCount("a", 1)
	r.run()
	r.wantCount("a", 8)
	time.Sleep(200 * time.Millisecond)
	r.wantCount("a", 8)
}

// An impression counted at two edges counts once, in the minute of the earlier
// click, and the decision survives a restart.
// The impression set survives a restart both ways: from the snapshot a clean stop
// writes, and (after a crash, no snapshot) by replaying the hub stream.
func TestCrossEdge(t *testing.T) {
	for _, restart := range []string{"snapshot", "replay"} {
		t.Run(restart, func(t *testing.T) { crossEdge(t, restart == "snapshot") })
	}
}

func crossEdge(t *testing.T, snapshot bool) {
	r := newRig(t)
	r.open()
	r.run()
	late := part("e2", 1, 1, "a", 1, 7) // impression 7 at minute cur
	r.publish(late)
	r.wantCount("a", 1)
	early := part("e1", 1, 1, "a", 1, 7) // impression 7 again, a minute earlier at e1
	early.Cells[0].Minute = cur - 1
	early.Refs[0].TimeMs = now.Add(-time.Minute).UnixMilli()
	r.publish(early)
	perMinute := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, _ := r.win.Series("a", cur-1, cur+1, window.Filter{})
			if got := fmt.Sprint(s); got == want {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("per minute %s, want %s", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	perMinute(fmt.Sprintf("[{%d 1} {%d 0}]", cur-1, cur)) // the count moved to the earlier click's minute
	r.stopMerger()
	snap := filepath.Join(r.dir, "merge", "imps.snap")
	if _, err := os.Stat(snap); err != nil {
		t.Fatalf("no snapshot after a clean stop: %v", err)
	}
	if !snapshot {
		os.Remove(snap)
	}
	r.open()
	r.run()
	<-r.m.Ready()
	if _, err := os.Stat(snap); err == nil {
		t.Fatal("the snapshot is still there after it was read")
	}
	if want := map[bool]string{true: "snapshot", false: "stream"}[snapshot]; r.m.impsFrom != want {
		t.Fatalf("impression set restored from the %s, want the %s", r.m.impsFrom, want)
	}
	r.publish(part("e3", 1, 2, "a", 2, 7, 9)) // 7 a third time, later: dropped; 9 is new
	perMinute(fmt.Sprintf("[{%d 1} {%d 1}]", cur-1, cur))
	time.Sleep(200 * time.Millisecond)
	perMinute(fmt.Sprintf("[{%d 1} {%d 1}]", cur-1, cur))
}

// A torn last record is cut off and the records before it are kept.
func TestTornLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "merge.log")
	l, err := openLog(path, func(*record) {})
	if err != nil {
		t.Fatal(err)
	}
	rec := &record{kind: recDelta, hubSeq: 7, applied: map[source]uint64{{"e1", 1}: 9}, wms: map[string]int64{"e1": 5},
		minutes: map[int64][]wire.Cell{3: {{Minute: 3, AdID: "a", Country: [2]byte{'Z', 'Z'}, Clicks: 4}}}}
	b := appendRecord(nil, rec)
	l.append(b)
	l.append(b[:len(b)-3]) // torn
	l.close()
	var got []*record
	l, err = openLog(path, func(r *record) { got = append(got, r) })
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if len(got) != 1 || got[0].hubSeq != 7 || got[0].applied[source{"e1", 1}] != 9 || got[0].minutes[3][0].Clicks != 4 {
		t.Fatalf("replayed %+v", got)
	}
	if l.size != int64(len(b)) {
		t.Fatalf("size %d after cutting the torn tail, want %d", l.size, len(b))
	}
}

// A partial that arrives after its minute left the hot window lands in that
// minute: the store's total grows by exactly its clicks, also for a second late
// partial after the minute was evicted from memory again.
func TestLatePastHotWindow(t *testing.T) {
	r := newRig(t)
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	r.win = window.New()
	m, err := Open(Options{JS: r.hub.JS, Dir: filepath.Join(r.dir, "merge"), Window: r.win, Store: r.st,
		CommitInterval: 50 * time.Millisecond, Hot: 5 * time.Minute, Now: clock, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	r.run()
	old := cur - 30 // half an hour late: outside the 5-minute hot window
	late := func(from, through uint64, clicks uint64) wire.Partial {
		p := part("e1", from, through, "a", clicks)
		p.Cells[0].Minute = old
		return p
	}
	stored := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r.st.Flush()
			got, err := r.st.Sum("clicks", "a", old, old+1)
			if err == nil && got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("stored %d (%v), want %d", got, err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	r.publish(late(1, 1, 5))
	stored(5)
	offset.Store(int64(2 * time.Minute)) // settled: the minute is evicted from memory
	deadline := time.Now().Add(10 * time.Second)
	for len(r.win.Minutes()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("minute %d still in the window: %v", old, r.win.Minutes())
		}
		r.publish(wire.Partial{Edge: "e1", Epoch: 1, FromSeq: 2, ThroughSeq: 1}) // heartbeats drive commits
		time.Sleep(100 * time.Millisecond)
	}
	r.publish(late(2, 2, 3))
	stored(8)
}

// Records written before cells had dims (kinds 1 and 2) still replay; new ones
// keep dims.
func TestLogRecordVersions(t *testing.T) {
	v1 := []byte{recDeltaV1}
	v1 = binary.AppendUvarint(v1, 7) // hub seq
	v1 = append(v1, 0, 0, 1)         // no applied, no watermarks, one minute
	v1 = binary.AppendVarint(v1, 3)
	v1 = append(v1, 1, 1, 'a', 'Z', 'Z', 4) // one cell: ad "a", ZZ, 4 clicks
	r, err := decodeRecord(v1)
	if err != nil || r.kind != recDelta || r.hubSeq != 7 || r.minutes[3][0].Clicks != 4 || r.minutes[3][0].Dims != "" {
		t.Fatalf("v1 record: %+v, %v", r, err)
	}
	rec := &record{kind: recDelta, hubSeq: 1, applied: map[source]uint64{}, wms: map[string]int64{},
		minutes: map[int64][]wire.Cell{3: {{Minute: 3, AdID: "a", Country: [2]byte{'U', 'S'}, Dims: "k=v", Clicks: 2}}}}
	b := appendRecord(nil, rec)
	r, err = decodeRecord(b[8:])
	if err != nil || r.minutes[3][0].Dims != "k=v" || r.minutes[3][0].Clicks != 2 {
		t.Fatalf("record with dims: %+v, %v", r, err)
	}
}

// A snapshot is read back exactly, and only at the position it was taken at; a
// truncated one is refused.
func TestImpressionSnapshot(t *testing.T) {
	dir := t.TempDir()
	mk := func(hubSeq uint64) *Merger {
		return &Merger{o: Options{Dir: dir, Now: func() time.Time { return now }, Logger: quiet}, hubSeq: hubSeq,
			imps: map[[16]byte]imp{}, edgeIdx: map[string]uint16{}, dimIdx: map[string]uint16{}}
	}
	m := mk(5)
	for i := range 1000 {
		m.imps[[16]byte{byte(i), byte(i >> 8)}] = imp{timeMs: int64(i), exp: uint32(now.Unix()) + 60, edge: m.edgeIndex(fmt.Sprint("e", i%3)),
			country: [2]byte{'D', 'E'}, dims: m.dimsIndex(fmt.Sprint("k=", i%2))}
	}
	m.imps[[16]byte{0xff}] = imp{exp: uint32(now.Unix()) - 1} // expired: not read back
	if err := m.saveImps(); err != nil {
		t.Fatal(err)
	}
	if err := mk(6).loadImps(); !errors.Is(err, errStaleSnapshot) {
		t.Fatalf("stale snapshot: %v", err)
	}
	m.saveImps()
	got := mk(5)
	if err := got.loadImps(); err != nil {
		t.Fatal(err)
	}
	delete(m.imps, [16]byte{0xff})
	if fmt.Sprint(got.imps) != fmt.Sprint(m.imps) || fmt.Sprint(got.edgeNames, got.dimNames) != fmt.Sprint(m.edgeNames, m.dimNames) ||
		got.edgeIdx["e2"] != m.edgeIdx["e2"] {
		t.Fatal("snapshot read back differs")
	}
	m.saveImps()
	b, _ := os.ReadFile(m.snapPath())
	os.WriteFile(m.snapPath(), b[:len(b)-7], 0o644)
	if err := mk(5).loadImps(); err == nil {
		t.Fatal("a truncated snapshot was read")
	}
}
