package journal

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickagg/clickagg/pkg/embednats"
	"github.com/clickagg/clickagg/pkg/wire"
)

func newJournal(t *testing.T, now func() time.Time) (*Journal, jetstream.Stream) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ns, err := embednats.Start(embednats.Options{Name: "j", Dir: t.TempDir(), Domain: "j", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	s, err := ns.JS.CreateStream(context.Background(), jetstream.StreamConfig{Name: "C", Subjects: []string{"c"}})
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{JS: ns.JS, Subject: "c", MsgIDPrefix: "t.", Now: now, Logger: quiet}), s
}

// Times never go backwards, LowWatermark never passes a click that is not yet in
// the stream, and Close writes what is pending.
func TestWatermarkAndOrder(t *testing.T) {
	var clock atomic.Int64
	clock.Store(1_000_000)
	j, s := newJournal(t, func() time.Time { return time.UnixMilli(clock.Load()) })

	if wm := j.LowWatermark(); wm != 1_000_000 {
		t.Fatalf("idle watermark %d, want the clock", wm)
	}
	c := wire.Click{Outcome: wire.OutcomeCounted, AdID: "a"}
	b, err := j.Append(&c)
	if err != nil || c.TimeMs != 1_000_000 {
		t.Fatalf("append: %v, time %d", err, c.TimeMs)
	}
	clock.Store(999_000) // the wall clock steps back
	c2 := wire.Click{Outcome: wire.OutcomeCounted, AdID: "b"}
	j.Append(&c2)
	if c2.TimeMs != 1_000_000 {
		t.Fatalf("time went backwards: %d", c2.TimeMs)
	}
	if wm := j.LowWatermark(); wm > 1_000_000 {
		t.Fatalf("watermark %d passed a pending click", wm)
	}
	if err := b.Wait(); err != nil {
		t.Fatal(err)
	}
	clock.Store(1_005_000)
	deadline := time.Now().Add(5 * time.Second)
	for j.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if wm := j.LowWatermark(); wm != 1_005_000 {
		t.Fatalf("watermark %d once everything is written, want the clock", wm)
	}
	j.Close()
	if _, err := j.Append(&c); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	var got []wire.Click
	info, _ := s.Info(context.Background())
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, _ := s.GetMsg(context.Background(), seq)
		got, _ = wire.DecodeClicks(got, m.Data)
	}
	if len(got) != 2 || got[0].AdID != "a" || got[1].AdID != "b" {
		t.Fatalf("stream holds %+v", got)
	}
}

// Many concurrent appenders: every click is written exactly once, in batches.
func TestGroupCommit(t *testing.T) {
	j, s := newJournal(t, time.Now)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				c := wire.Click{Outcome: wire.OutcomeCounted, AdID: "a"}
				b, err := j.Append(&c)
				if err == nil {
					err = b.Wait()
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	j.Close()
	info, _ := s.Info(context.Background())
	var n int
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, _ := s.GetMsg(context.Background(), seq)
		cs, _ := wire.DecodeClicks(nil, m.Data)
		n += len(cs)
	}
	if n != 1600 {
		t.Fatalf("%d clicks written, want 1600", n)
	}
	if info.State.Msgs >= 1600 {
		t.Fatalf("%d messages for 1600 clicks: no batching", info.State.Msgs)
	}
}
