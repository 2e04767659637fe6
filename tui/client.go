package tui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client reads the core's query API (README "API") for the TUI. Every call is
// bounded by the client's timeout, so a slow or dead core costs a poll at most
// that long and never more than one connection per pane. Safe for concurrent use.
type Client struct {
	base    *url.URL
	token   string
	timeout time.Duration
	hc      *http.Client
}

// DefaultTimeout bounds one request. Two seconds is twice the poll period: a core
// that answers in under a second never times out, and one that does not shows as
// stale within three seconds rather than silently lagging behind.
const DefaultTimeout = 2 * time.Second

// maxResponse bounds a decoded answer (top-1000 is ~60 KiB; a day of minutes ~100 KiB).
const maxResponse = 4 << 20

// NewClient returns a client for the core at base ("http://host:port"; a bare
// "host:port" means http) that authenticates with token. timeout ≤ 0 means
// DefaultTimeout.
func NewClient(base, token string, timeout time.Duration) (*Client, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		return nil, fmt.Errorf("core URL %q: %w", base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("core URL %q: want http://host:port or https://host:port", base)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// One keep-alive connection per concurrent poll (at most five kinds).
	tr.MaxIdleConnsPerHost = 5
	tr.ResponseHeaderTimeout = timeout
	return &Client{base: u, token: token, timeout: timeout, hc: &http.Client{Transport: tr}}, nil
}

// Base is the core's URL as given, for display.
func (c *Client) Base() string { return c.base.String() }

// Timeout is the per-request bound.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Close drops idle keep-alive connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// APIError is an answer other than 200 from the core: its status and the
// {"error": "..."} message (or the start of the body when it is not JSON).
type APIError struct {
	Path    string
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("GET %s: %d %s: %s", e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// IsNotFound reports whether err is the core answering 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// get fetches path?q into out within the client's timeout; path is escaped.
func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	p, err := url.PathUnescape(path)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	u.Path, u.RawPath = c.base.Path+p, c.base.EscapedPath()+path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, shortNetErr(err))
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxResponse)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(body, 512))
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &APIError{Path: path, Status: resp.StatusCode, Message: msg}
	}
	if err := json.NewDecoder(body).Decode(out); err != nil {
		return fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	return nil
}

// shortNetErr drops the repeated method and URL from a *url.Error: the status
// line is 80 columns wide.
func shortNetErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if errors.Is(ue.Err, context.DeadlineExceeded) {
			return errors.New("timed out")
		}
		return ue.Err
	}
	return err
}

// AdCount is one row of a top-N answer.
type AdCount struct {
	AdID   string `json:"ad_id"`
	Clicks uint64 `json:"clicks"`
}

// TopResponse is GET /v1/top.
type TopResponse struct {
	From            time.Time `json:"from"`
	To              time.Time `json:"to"`
	Ads             []AdCount `json:"ads"`
	CompleteThrough time.Time `json:"complete_through"`
}

// Top asks for the n ads with most clicks in the last minutes, in country when
// it is not empty.
func (c *Client) Top(ctx context.Context, n, minutes int, country string) (*TopResponse, error) {
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {strconv.Itoa(minutes)}}
	if country != "" {
		q.Set("country", country)
	}
	var r TopResponse
	return &r, c.get(ctx, "/v1/top", q, &r)
}

// MinuteCount is one minute of a series. Billable is nil while the core does
// not report it.
type MinuteCount struct {
	Minute   time.Time `json:"minute"`
	Clicks   uint64    `json:"clicks"`
	Billable *uint64   `json:"billable,omitempty"`
}

// ClicksResponse is GET /v1/ads/{ad_id}/clicks with granularity=minute.
// Billable is nil while the core does not report it.
type ClicksResponse struct {
	AdID            string        `json:"ad_id"`
	From            time.Time     `json:"from"`
	To              time.Time     `json:"to"`
	Clicks          uint64        `json:"clicks"`
	Billable        *uint64       `json:"billable,omitempty"`
	CompleteThrough time.Time     `json:"complete_through"`
	Series          []MinuteCount `json:"series"`
}

// Clicks asks for one ad's per-minute clicks over the last minutes.
func (c *Client) Clicks(ctx context.Context, ad string, minutes int, country string) (*ClicksResponse, error) {
	q := url.Values{"last": {strconv.Itoa(minutes)}, "granularity": {"minute"}}
	if country != "" {
		q.Set("country", country)
	}
	var r ClicksResponse
	return &r, c.get(ctx, "/v1/ads/"+url.PathEscape(ad)+"/clicks", q, &r)
}

// EdgeInfo is one edge in GET /v1/edges. LagSeconds is -1 for an edge never
// heard from; Buffered is nil while the core does not report it.
type EdgeInfo struct {
	EdgeID     string    `json:"edge_id"`
	Watermark  time.Time `json:"watermark"`
	LagSeconds float64   `json:"lag_seconds"`
	Buffered   *uint64   `json:"buffered,omitempty"`
}

// EdgesResponse is GET /v1/edges.
type EdgesResponse struct {
	Edges           []EdgeInfo `json:"edges"`
	CompleteThrough time.Time  `json:"complete_through"`
}

// Edges asks for every registered edge's watermark and lag (admin only).
func (c *Client) Edges(ctx context.Context) (*EdgesResponse, error) {
	var r EdgesResponse
	return &r, c.get(ctx, "/v1/edges", nil, &r)
}

// MergeStats is the merger part of GET /v1/status (counters since core start).
type MergeStats struct {
	Merged     uint64    `json:"partials_merged"`
	Duplicates uint64    `json:"partials_duplicate"`
	Bad        uint64    `json:"partials_undecodable"`
	Pending    uint64    `json:"partials_pending"`
	LastCommit time.Time `json:"last_commit"`
}

// CoreStatus is the "core" object of GET /v1/status.
type CoreStatus struct {
	Merge      MergeStats `json:"merge"`
	Ads        int        `json:"ads"`
	Leafnodes  int        `json:"leafnodes"`
	StoreRows  uint64     `json:"store_rows"`
	StoreBytes uint64     `json:"store_bytes"`
	HotWindow  string     `json:"hot_window"`
	Raw        RawStatus  `json:"raw"`
}

// RawStatus is the raw click store's part of the core status.
type RawStatus struct {
	// SealedThrough: every minute before it is final in the raw files and
	// reconciled with the merged counts; zero before the first minute is sealed.
	SealedThrough time.Time `json:"sealed_through"`
	Unsealed      int       `json:"unsealed_records"`
}

// StatusResponse is GET /v1/status. Now is the core's clock.
type StatusResponse struct {
	CompleteThrough time.Time  `json:"complete_through"`
	Now             time.Time  `json:"now"`
	Core            CoreStatus `json:"core"`
}

// Status asks for the core's health (admin only).
func (c *Client) Status(ctx context.Context) (*StatusResponse, error) {
	var r StatusResponse
	return &r, c.get(ctx, "/v1/status", nil, &r)
}

// FilterInfo is one filter in GET /v1/filters: its owner ("" for the admin's),
// the active version (0: none) and how many versions were uploaded. Stats is
// nil while the core does not report verdict counters (RATIONALE.md).
type FilterInfo struct {
	Name     string       `json:"name"`
	Owner    string       `json:"owner"`
	Active   int          `json:"active"`
	Versions versionCount `json:"versions"`
	Stats    *FilterStats `json:"stats,omitempty"`
}

// FilterStats are a filter's verdict counters summed over the edges.
type FilterStats struct {
	Calls    uint64 `json:"calls"`
	Accepts  uint64 `json:"accepts"`
	Rejects  uint64 `json:"rejects"`
	Flags    uint64 `json:"flags"`
	Traps    uint64 `json:"traps"`
	Timeouts uint64 `json:"timeouts"`
}

// versionCount decodes "versions" given either as a number or as a list (of
// {"version","sha256","size","created"} records today).
type versionCount int

func (v *versionCount) UnmarshalJSON(b []byte) error {
	var n int
	if json.Unmarshal(b, &n) == nil {
		*v = versionCount(n)
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("versions: want a number or a list: %w", err)
	}
	*v = versionCount(len(list))
	return nil
}

// FiltersResponse is GET /v1/filters.
type FiltersResponse struct {
	Filters []FilterInfo `json:"filters"`
}

// Filters asks for the filter registry; IsNotFound(err) means the core has none.
func (c *Client) Filters(ctx context.Context) (*FiltersResponse, error) {
	var r FiltersResponse
	return &r, c.get(ctx, "/v1/filters", nil, &r)
}
