package rawfile

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// hyparquetDir finds the hyparquet npm package that .ci/run installs:
// $CLICKAGG_HYPARQUET, else ~/.cache/clickagg-npm/node_modules/hyparquet. Without
// it (or without node) the test skips, except under CI=true, where it fails so
// that CI cannot pass without the independent check.
func hyparquetDir(t *testing.T) (node, hyDir, compDir string) {
	t.Helper()
	unavailable := func(why string) {
		t.Helper()
		msg := "independent Parquet reader unavailable: " + why +
			"; install it with: npm install --prefix ~/.cache/clickagg-npm hyparquet@1.31.5 hyparquet-compressors@1.1.2" +
			" (or run .ci/run), or set CLICKAGG_HYPARQUET to its hyparquet directory"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node not found")
	}
	hyDir = os.Getenv("CLICKAGG_HYPARQUET")
	if hyDir == "" {
		home, _ := os.UserHomeDir()
		hyDir = filepath.Join(home, ".cache", "clickagg-npm", "node_modules", "hyparquet")
	}
	compDir = filepath.Join(filepath.Dir(hyDir), "hyparquet-compressors")
	for _, d := range []string{hyDir, compDir} {
		if _, err := os.Stat(filepath.Join(d, "package.json")); err != nil {
			unavailable(d + " missing")
		}
	}
	return node, hyDir, compDir
}

// hyResult is what testdata/hyparquet_read.mjs prints.
type hyResult struct {
	NumRows   int `json:"num_rows"`
	RowGroups int `json:"row_groups"`
	Columns   []struct {
		Name      string   `json:"name"`
		Type      string   `json:"type"`
		Logical   *string  `json:"logical"`
		Encodings []string `json:"encodings"`
		Codec     string   `json:"codec"`
	} `json:"columns"`
	KeyValue map[string]string `json:"key_value"`
	Rows     []map[string]any  `json:"rows"`
}

// TestIndependentReader reads a minute file and a compacted file with hyparquet
// (JavaScript, written independently of parquet-go) and checks the schema, the
// metadata and every value of every row.
func TestIndependentReader(t *testing.T) {
	t.Parallel()
	node, hyDir, compDir := hyparquetDir(t)
	dir := t.TempDir()
	f := openT(t, dir, rowGroups(700))
	g := newGen(40)
	m := m0()
	rows := g.minute(m+3, 2000)
	rows[0].UserID, rows[0].Labels, rows[0].Fraud = "", "", ""
	rows[1].IP = "2001:db8::1"
	rows[2].Seq = 1<<63 + 5 // beyond int64: must come back as unsigned
	if err := f.WriteMinute(m+3, rows); err != nil {
		t.Fatal(err)
	}
	late := g.minute(m+7, 300)
	if err := f.WriteLate("seq-9", late); err != nil {
		t.Fatal(err)
	}
	hourDir := filepath.Join(dir, hourName(hourOf(m)))
	check := func(name string, want []Row, kind kind) {
		t.Helper()
		cmd := exec.Command(node, filepath.Join("testdata", "hyparquet_read.mjs"), hyDir, compDir, filepath.Join(hourDir, name))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("hyparquet on %s: %v\n%s", name, err, stderr.Bytes())
		}
		var res hyResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("hyparquet output: %v\n%.2000s", err, out)
		}
		checkHyparquet(t, name, &res, want, kind)
	}
	check(minuteName(m+3), rows, kindMinute)
	// And this package's own decoder agrees (the unsigned seq, the empty strings).
	checkRows(t, "scan", scanAll(t, f, m+3, m+4, Pred{}), brute(rows, m+3, m+4, Pred{}))
	if err := f.Compact(m + 60); err != nil {
		t.Fatal(err)
	}
	check(compactName(1), append(rows, late...), kindCompacted)
}

func checkHyparquet(t *testing.T, name string, res *hyResult, input []Row, k kind) {
	t.Helper()
	if res.NumRows != len(input) || len(res.Rows) != len(input) {
		t.Fatalf("%s: hyparquet read %d rows (footer %d), want %d", name, len(res.Rows), res.NumRows, len(input))
	}
	if want := (len(input) + 699) / 700; res.RowGroups != want {
		t.Errorf("%s: %d row groups, want %d", name, res.RowGroups, want)
	}
	// What FORMAT.md's schema table says.
	const dict, delta, dlba, plain = "PLAIN,RLE_DICTIONARY", "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "PLAIN"
	wantCols := []struct{ name, typ, logical, enc string }{
		{"time_ms", "INT64", "TIMESTAMP", delta}, {"edge", "BYTE_ARRAY", "STRING", dict},
		{"seq", "INT64", "INTEGER", plain}, {"outcome", "BYTE_ARRAY", "STRING", dict},
		{"reason", "INT32", "INTEGER", dict}, {"score", "INT32", "INTEGER", dict},
		{"impression_id", "FIXED_LEN_BYTE_ARRAY", "", plain}, {"expires_at", "INT64", "INTEGER", delta},
		{"ad_id", "BYTE_ARRAY", "STRING", dict}, {"user_id", "BYTE_ARRAY", "STRING", dlba},
		{"country", "BYTE_ARRAY", "STRING", dict}, {"ip", "BYTE_ARRAY", "STRING", dlba},
		{"labels", "BYTE_ARRAY", "STRING", dict}, {"counted", "BOOLEAN", "", plain},
		{"fraud", "BYTE_ARRAY", "STRING", dict},
	}
	if len(res.Columns) != len(wantCols) {
		t.Fatalf("%s: columns %+v", name, res.Columns)
	}
	for i, c := range res.Columns {
		w := wantCols[i]
		logical := ""
		if c.Logical != nil {
			logical = *c.Logical
		}
		enc := strings.Join(c.Encodings, ",")
		if c.Name != w.name || c.Type != w.typ || logical != w.logical || enc != w.enc || c.Codec != "ZSTD" {
			t.Errorf("%s: column %d is %s %s (%s) %s %s, want %s %s (%s) %s ZSTD",
				name, i, c.Name, c.Type, logical, enc, c.Codec, w.name, w.typ, w.logical, w.enc)
		}
	}
	if kv := res.KeyValue; kv[metaKind] != k.String() || kv[metaRows] != strconv.Itoa(len(input)) || kv[metaVersion] != formatVersion || kv[metaSort] != sortOrder {
		t.Errorf("%s: key-value metadata %v", name, kv)
	}
	// The file is sorted by (ad_id, time_ms); sortRows' tie-break (Seq) matches the
	// writers' stable order for these rows.
	want := append([]Row(nil), input...)
	sortRows(want)
	for i, r := range res.Rows {
		w := want[i]
		exp := map[string]any{
			"time_ms": float64(w.TimeMs), "edge": w.Edge, "seq": strconv.FormatUint(w.Seq, 10),
			"outcome": w.Outcome, "reason": float64(w.Reason), "score": float64(w.Score),
			"impression_id": hex.EncodeToString(w.ImpressionID[:]), "expires_at": strconv.FormatInt(w.ExpiresAt, 10),
			"ad_id": w.AdID, "user_id": w.UserID, "country": w.Country, "ip": w.IP, "labels": w.Labels,
			"counted": w.Counted, "fraud": w.Fraud,
		}
		for k, v := range exp {
			if r[k] != v {
				t.Fatalf("%s: row %d column %s: hyparquet read %#v, want %#v\nrow %v", name, i, k, r[k], v, r)
			}
		}
		if len(r) != len(exp) {
			t.Fatalf("%s: row %d has columns %v", name, i, r)
		}
	}
}
