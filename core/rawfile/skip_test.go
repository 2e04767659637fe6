package rawfile

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// skipRows makes 20 row groups of 1000 rows (RowGroupRows 1000): ad "ad-%03d" =
// i/100 (10 ads per group, in sort order), a unique IP and user per row, country
// DE except FR for ads 050-054 (half of group 5), and minute m+i/1000 (one minute
// per group).
func skipRows(m int64) []Row {
	rows := make([]Row, 20_000)
	for i := range rows {
		rows[i] = Row{
			TimeMs:  (m+int64(i/1000))*60_000 + int64(i%1000),
			AdID:    fmt.Sprintf("ad-%03d", i/100),
			IP:      fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255),
			UserID:  fmt.Sprintf("u-%d", i),
			Country: "DE",
			Seq:     uint64(i),
		}
		if a := i / 100; a >= 50 && a < 55 {
			rows[i].Country = "FR"
		}
	}
	return rows
}

func TestScanSkipsRowGroups(t *testing.T) {
	t.Parallel()
	f := openT(t, t.TempDir(), rowGroups(1000))
	m := m0()
	all := skipRows(m)
	if err := f.WriteLate("skip", all); err != nil { // one file spanning minutes m..m+19
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		from, to int64
		p        Pred
		// Expected row groups decoded, skipped by statistics, by bloom filter and
		// after reading the predicate column, and rows decoded.
		decoded, stats, bloom, column, rows int64
	}{
		{"all", m, m + 20, Pred{}, 20, 0, 0, 0, 20_000},
		{"one minute by time stats", m + 3, m + 4, Pred{}, 1, 19, 0, 0, 1000},
		{"ad by stats, one run", m, m + 20, Pred{AdID: "ad-123"}, 1, 19, 0, 0, 100},
		{"ad absent inside a group's range", m, m + 20, Pred{AdID: "ad-123x"}, 0, 19, 1, 0, 0},
		{"ip by bloom, one row", m, m + 20, Pred{IP: "10.0.48.57"}, 1, 0, 19, 0, 1},
		{"absent ip", m, m + 20, Pred{IP: "10.9.9.9"}, 0, 0, 20, 0, 0},
		{"user by bloom", m, m + 20, Pred{UserID: "u-19999"}, 1, 0, 19, 0, 1},
		{"country by stats, half the group decoded whole", m, m + 20, Pred{Country: "FR"}, 1, 19, 0, 0, 1000},
		{"country absent inside a group's range", m, m + 20, Pred{Country: "ES"}, 0, 19, 0, 1, 0},
		{"country before every group", m, m + 20, Pred{Country: "AT"}, 0, 20, 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.ctr.snapshot()
			checkRows(t, "rows", scanAll(t, f, c.from, c.to, c.p), brute(all, c.from, c.to, c.p))
			d := f.ctr.snapshot().minus(before)
			want := ctrSnapshot{groups: 20, decodedGroups: c.decoded, skippedStats: c.stats,
				skippedBloom: c.bloom, skippedColumn: c.column, decodedRows: c.rows, files: 1}
			if d != want {
				t.Fatalf("counters\n got %+v\nwant %+v", d, want)
			}
		})
	}
	// Files and hours outside the range are not even opened.
	before := f.ctr.snapshot()
	scanAll(t, f, m+20, m+60, Pred{})
	scanAll(t, f, m-60, m, Pred{})
	if d := f.ctr.snapshot().minus(before); d != (ctrSnapshot{}) {
		t.Fatalf("scans outside the file's minutes: %+v", d)
	}
}

type ctrSnapshot struct {
	files, groups, skippedStats, skippedBloom, skippedColumn, decodedGroups, decodedRows int64
}

func (c *counters) snapshot() ctrSnapshot {
	return ctrSnapshot{c.files.Load(), c.groups.Load(), c.skippedStats.Load(), c.skippedBloom.Load(),
		c.skippedColumn.Load(), c.decodedGroups.Load(), c.decodedRows.Load()}
}

func (a ctrSnapshot) minus(b ctrSnapshot) ctrSnapshot {
	return ctrSnapshot{a.files - b.files, a.groups - b.groups, a.skippedStats - b.skippedStats,
		a.skippedBloom - b.skippedBloom, a.skippedColumn - b.skippedColumn,
		a.decodedGroups - b.decodedGroups, a.decodedRows - b.decodedRows}
}

// TestBloomFalsePositiveRate measures what bloomBitsPerValue's comment claims:
// ~1.3% false positives at 10 bits per value.
func TestBloomFalsePositiveRate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := openT(t, dir, rowGroups(50_000))
	m := m0()
	rows := make([]Row, 20_000)
	for i := range rows {
		rows[i] = Row{TimeMs: m * 60_000, AdID: "ad", IP: fmt.Sprintf("10.1.%d.%d", i>>8, i&255)}
	}
	if err := f.WriteMinute(m, rows); err != nil {
		t.Fatal(err)
	}
	fd, err := os.Open(filepath.Join(dir, hourName(hourOf(m)), minuteName(m)))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	st, _ := fd.Stat()
	pf, err := openParquet(fd, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	bf := pf.RowGroups()[0].ColumnChunks()[leafIndex(pf.Schema(), "ip")].BloomFilter()
	if bf == nil {
		t.Fatal("no bloom filter on ip")
	}
	const probes = 20_000
	fp := 0
	for i := range probes {
		ok, err := bf.Check(parquet.ValueOf(fmt.Sprintf("10.2.%d.%d", i>>8, i&255)))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			fp++
		}
	}
	rate := float64(fp) / probes
	t.Logf("ip bloom filter: %d bytes for %d values, false positives %.2f%%", bf.Size(), len(rows), 100*rate)
	if rate > 0.02 {
		t.Fatalf("false-positive rate %.2f%%, want about 1.3%%", 100*rate)
	}
	for i := 0; i < len(rows); i += 97 {
		if ok, _ := bf.Check(parquet.ValueOf(rows[i].IP)); !ok {
			t.Fatalf("bloom filter misses present IP %s", rows[i].IP)
		}
	}
}

// TestScanRunsAcrossPages decodes scattered matches by seeking inside a row group
// whose wide columns span several pages, so seeks land in pages other than the
// first and the current one.
func TestScanRunsAcrossPages(t *testing.T) {
	t.Parallel()
	f := openT(t, t.TempDir(), rowGroups(50_000))
	g := newGen(50)
	m := m0()
	rows := make([]Row, 40_000)
	for i := range rows {
		rows[i] = g.row(m*60_000 + int64(i))
		rows[i].IP = fmt.Sprintf("192.0.2.%d/%d", i%1500, i) // ~26 bytes: 1 MB of ip column
		rows[i].UserID = fmt.Sprintf("user-%d", i%997)
	}
	if err := f.WriteMinute(m, rows); err != nil {
		t.Fatal(err)
	}
	probes := []Pred{
		{IP: rows[39_999].IP},
		{UserID: "user-5"},       // ~40 scattered rows: runs
		{UserID: "user-996"},     // at the end of the pages
		{AdID: rows[12345].AdID}, // one run in the middle
		{AdID: rows[0].AdID, UserID: rows[0].UserID},
	}
	for _, p := range probes {
		before := f.ctr.snapshot()
		checkRows(t, fmt.Sprintf("%+v", p), scanAll(t, f, m, m+1, p), brute(rows, m, m+1, p))
		if d := f.ctr.snapshot().minus(before); d.decodedRows >= 40_000/fullDecodeShare {
			t.Errorf("%+v: decoded %d rows, want runs, not the whole group", p, d.decodedRows)
		}
	}
}
