package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clickagg/clickagg/core/raw"
	"github.com/clickagg/clickagg/core/rawfile"
	"github.com/clickagg/clickagg/edge"
	"github.com/clickagg/clickagg/wasm/filters"
)

// clickFrom clicks path at an edge as a client at ip behind the trusted proxy.
func clickFrom(t *testing.T, e *edge.Node, path, ip, ua string) int {
	t.Helper()
	code, _ := clickWith(t, e.Addr(), path, http.Header{"X-Forwarded-For": {ip}, "X-Geo-Country": {"NL"}, "User-Agent": {ua}})
	return code
}

type reconResp struct {
	MinutesChecked    int    `json:"minutes_checked"`
	Mismatches        int    `json:"mismatches"`
	Subtracted        uint64 `json:"subtracted"`
	ReconciledThrough string `json:"reconciled_through"`
	Subtractions      []struct {
		Minute string `json:"minute"`
		Rule   string `json:"rule"`
		AdID   string `json:"ad_id"`
		IP     string `json:"ip"`
		Clicks uint64 `json:"clicks"`
	} `json:"subtractions"`
}

type minuteKey struct {
	ad     string
	minute int64
}

// The differential test of the issue: random traffic with cross-edge and same-edge
// duplicates, clicks held back by a core outage (late at the core), filter
// rejects and an IP burst; once reconciliation has sealed it all, the counts the
// API answers equal a plain recount of the raw Parquet files, minute by minute,
// for clicks and for billable clicks, and the ip and user_id filters agree too.
func TestRawDifferential(t *testing.T) {
	dir := t.TempDir()
	d := startLocal(t, dir)
	c := client{t, "http://" + d.core.APIAddr(), admin}
	ads := []string{"r1", "r2", "r3", "r4"}
	for _, ad := range ads {
		c.putAd(ad, "acme")
	}
	var key struct{ Token string }
	c.do("POST", "/v1/partners/p1/keys", "", &key)
	partner := client{t, c.api, key.Token}
	if code, body := partner.upload("botua", filters.BotUA()); code != 201 {
		t.Fatalf("upload: %d %s", code, body)
	}
	partner.do("POST", "/v1/filters/botua/activate", `{"version":1}`, nil)
	for _, e := range d.edges {
		for deadline := time.Now().Add(30 * time.Second); e.FilterVersion("botua") != 1; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("edge %s did not load the filter", e.ID())
			}
		}
	}

	rng := rand.New(rand.NewPCG(7, 7))
	startMs := time.Now().UnixMilli()
	var mintResp impressions
	traffic := func(n int) {
		for i := range n {
			ad := ads[rng.IntN(len(ads))]
			c.do("POST", "/v1/impressions", fmt.Sprintf(`{"ad_id":%q,"user_id":"user-%d"}`, ad, rng.IntN(20)), &mintResp)
			path := mintResp.Impressions[0].ClickPath
			ip := fmt.Sprintf("198.51.100.%d", rng.IntN(50))
			ua := "Mozilla/5.0"
			if i%9 == 0 {
				ua = "Googlebot/2.1" // rejected by the partner filter
			}
			e := d.edges[rng.IntN(2)]
			clickFrom(t, e, path, ip, ua)
			switch r := rng.IntN(10); {
			case r == 0: // the same impression at the other edge
				clickFrom(t, d.edges[0], path, ip, ua)
				clickFrom(t, d.edges[1], path, ip, ua)
			case r == 1: // again at the same edge
				clickFrom(t, e, path, ip, ua)
			}
		}
	}
	traffic(60)
	// An IP burst on one ad: 25 clicks from one address within one minute.
	burst := c.mint("r1", 25)
	if s := time.Now().Second(); s > 50 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	for _, p := range burst {
		clickFrom(t, d.edges[0], p, "203.0.113.66", "Mozilla/5.0")
	}
	// A core outage: these clicks reach the core late (minted before it).
	var held []string
	for i := range 30 {
		held = append(held, c.mint(ads[i%len(ads)], 1)...)
	}
	apiAddr, leaf := d.core.APIAddr(), d.core.LeafURL()
	d.core.Close()
	for i, p := range held {
		clickFrom(t, d.edges[i%2], p, fmt.Sprintf("198.51.100.%d", i), "Mozilla/5.0")
	}
	d.core = restartCore(t, dir, apiAddr, leaf)
	c.api = "http://" + d.core.APIAddr()
	traffic(40)
	last := time.Now()

	// Wait until reconciliation has sealed every minute with a click.
	var rec reconResp
	deadline := time.Now().Add(3 * time.Minute)
	for {
		c.do("GET", "/v1/reconciliation?last=30", "", &rec)
		if through, err := time.Parse(time.RFC3339, rec.ReconciledThrough); err == nil && through.After(last) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reconciliation did not pass %s: %+v", last, rec)
		}
		time.Sleep(time.Second)
	}
	if rec.Mismatches != 0 {
		t.Errorf("%d minutes mismatched: the fast path was not exact", rec.Mismatches)
	}
	if rec.Subtracted != 5 || len(rec.Subtractions) != 1 || rec.Subtractions[0].Rule != raw.RuleIPBurst || rec.Subtractions[0].IP != "203.0.113.66" {
		t.Errorf("subtractions %+v", rec)
	}

	// What the API answers: per ad and minute, and for every IP and user the
	// filters' top ad.
	from := minuteOf(startMs)
	to := last.Unix()/60 + 1
	apiClicks, apiBillable := map[minuteKey]uint64{}, map[minuteKey]uint64{}
	for _, ad := range ads {
		var got struct {
			Series []struct {
				Minute           string
				Clicks, Billable uint64
			}
		}
		c.do("GET", fmt.Sprintf("/v1/ads/%s/clicks?from=%d&to=%d&granularity=minute", ad, from*60, to*60), "", &got)
		for _, s := range got.Series {
			m, _ := time.Parse(time.RFC3339, s.Minute)
			if s.Clicks > 0 {
				apiClicks[minuteKey{ad, m.Unix() / 60}] = s.Clicks
			}
			if s.Billable > 0 {
				apiBillable[minuteKey{ad, m.Unix() / 60}] = s.Billable
			}
		}
	}
	type topAns struct {
		Ads []struct {
			AdID   string `json:"ad_id"`
			Clicks uint64
		}
	}
	apiByIP, apiByUser := map[string]topAns{}, map[string]topAns{}
	for i := range 50 {
		ip := fmt.Sprintf("198.51.100.%d", i)
		var a topAns
		c.do("GET", fmt.Sprintf("/v1/top?n=1&from=%d&to=%d&ip=%s", from*60, to*60, ip), "", &a)
		apiByIP[ip] = a
	}
	for i := range 20 {
		u := fmt.Sprintf("user-%d", i)
		var a topAns
		c.do("GET", fmt.Sprintf("/v1/top?n=1&from=%d&to=%d&user_id=%s", from*60, to*60, u), "", &a)
		apiByUser[u] = a
	}
	d.core.Close() // the raw files are the core's until then

	// The plain recount, from the Parquet files alone.
	files, err := rawfile.Open(rawfile.Options{Dir: filepath.Join(dir, "core", "raw", "files")})
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	var rows []rawfile.Row
	if err := files.Scan(context.Background(), 0, 1<<40, rawfile.Pred{}, func(r *rawfile.Row) error {
		rows = append(rows, *r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clicks, billable, byIP, byUser := recountRows(rows)
	var filtered int
	for _, r := range rows {
		if r.Outcome == "filtered" {
			filtered++
		}
	}
	if filtered == 0 || len(rows) < 150 {
		t.Fatalf("%d raw rows, %d filtered: the traffic did not happen as planned", len(rows), filtered)
	}
	t.Logf("%d raw rows (%d filtered), %d ad-minutes with clicks, reconciliation %+v", len(rows), filtered, len(clicks), rec)
	if fmt.Sprint(apiClicks) != fmt.Sprint(clicks) {
		t.Errorf("clicks per ad and minute:\nAPI     %v\nrecount %v", apiClicks, clicks)
	}
	if fmt.Sprint(apiBillable) != fmt.Sprint(billable) {
		t.Errorf("billable per ad and minute:\nAPI     %v\nrecount %v", apiBillable, billable)
	}
	for _, c := range []struct {
		name string
		api  map[string]topAns
		want map[string]adN
	}{{"ip", apiByIP, byIP}, {"user_id", apiByUser, byUser}} {
		for k, a := range c.api {
			w, ok := c.want[k]
			switch {
			case !ok && len(a.Ads) != 0:
				t.Errorf("%s=%s: API %+v, recount none", c.name, k, a.Ads)
			case ok && (len(a.Ads) != 1 || a.Ads[0].AdID != w.ad || a.Ads[0].Clicks != w.n):
				t.Errorf("%s=%s: API %+v, recount %+v", c.name, k, a.Ads, w)
			}
		}
	}
}

// helpers for the differential test

func minuteOf(ms int64) int64 { return ms / 60000 }

type adN struct {
	ad string
	n  uint64
}

// recountRows is the counting rules written out plainly: a click counts if its
// edge counted it and no earlier click (receive time, then edge id) of its
// impression did; 20 counted clicks a minute from one IP on one ad are billable,
// the rest are not. It returns per ad and minute clicks and billable, and for one
// IP and one user each the top ad and its clicks.
func recountRows(rows []rawfile.Row) (clicks, billable map[minuteKey]uint64, byIP, byUser map[string]adN) {
	slices.SortStableFunc(rows, func(a, b rawfile.Row) int {
		return cmp.Or(cmp.Compare(a.TimeMs, b.TimeMs), strings.Compare(a.Edge, b.Edge))
	})
	seen := map[[16]byte]bool{}
	clicks, billable = map[minuteKey]uint64{}, map[minuteKey]uint64{}
	perIP := map[string]int{}
	ipAd, userAd := map[[2]string]uint64{}, map[[2]string]uint64{}
	for _, r := range rows {
		if r.Outcome != "counted" || seen[r.ImpressionID] {
			continue
		}
		seen[r.ImpressionID] = true
		k := minuteKey{r.AdID, minuteOf(r.TimeMs)}
		clicks[k]++
		perIP[fmt.Sprint(k, r.IP)]++
		if perIP[fmt.Sprint(k, r.IP)] <= 20 {
			billable[k]++
		}
		ipAd[[2]string{r.IP, r.AdID}]++
		userAd[[2]string{r.UserID, r.AdID}]++
	}
	pick := func(m map[[2]string]uint64) map[string]adN {
		out := map[string]adN{}
		for k, n := range m {
			if cur, ok := out[k[0]]; !ok || n > cur.n || n == cur.n && k[1] < cur.ad {
				out[k[0]] = adN{k[1], n}
			}
		}
		return out
	}
	return clicks, billable, pick(ipAd), pick(userAd)
}
