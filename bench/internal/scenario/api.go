package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// api is a client of the core's HTTP API (CONTRACT.md), safe for concurrent use.
type api struct {
	base  string // "http://host:port"
	token string
	hc    *http.Client
}

func newAPI(base, token string) *api {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	return &api{base: base, token: token, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// httpError is an answer with an unexpected status.
type httpError struct {
	Status int
	Body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// do sends a request and decodes a 2xx JSON answer into out; it returns the status.
func (a *api) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, &httpError{resp.StatusCode, string(bytes.TrimSpace(b))})
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func (a *api) putAd(ctx context.Context, id, advertiser string) error {
	_, err := a.do(ctx, "PUT", "/v1/ads/"+id, map[string]string{
		"advertiser_id": advertiser, "redirect_url": "https://example.com/landing/" + id}, nil)
	return err
}

// maxMint is the most impressions one POST /v1/impressions may ask for.
const maxMint = 10000

// mint returns the click paths of n new impressions of ad (n ≤ maxMint).
func (a *api) mint(ctx context.Context, ad string, n int) ([]string, error) {
	var r struct {
		Impressions []struct {
			ClickPath string `json:"click_path"`
		} `json:"impressions"`
	}
	if _, err := a.do(ctx, "POST", "/v1/impressions", map[string]any{"ad_id": ad, "count": n}, &r); err != nil {
		return nil, err
	}
	if len(r.Impressions) != n {
		return nil, fmt.Errorf("mint %s: asked %d impressions, got %d", ad, n, len(r.Impressions))
	}
	paths := make([]string, n)
	for i, imp := range r.Impressions {
		paths[i] = imp.ClickPath
	}
	return paths, nil
}

// countAnswer is GET /v1/ads/{id}/clicks.
type countAnswer struct {
	Clicks          uint64 `json:"clicks"`
	CompleteThrough string `json:"complete_through"`
}

func (a *api) count(ctx context.Context, ad string, q url.Values) (countAnswer, error) {
	var r countAnswer
	_, err := a.do(ctx, "GET", "/v1/ads/"+ad+"/clicks?"+q.Encode(), nil, &r)
	return r, err
}

// topAnswer is GET /v1/top.
type topAnswer struct {
	Ads []struct {
		AdID   string `json:"ad_id"`
		Clicks uint64 `json:"clicks"`
	} `json:"ads"`
	CompleteThrough string `json:"complete_through"`
}

func (a *api) top(ctx context.Context, q url.Values) (topAnswer, error) {
	var r topAnswer
	_, err := a.do(ctx, "GET", "/v1/top?"+q.Encode(), nil, &r)
	return r, err
}

// edgeMarks returns each edge's merged watermark (zero time if none yet).
func (a *api) edgeMarks(ctx context.Context) (map[string]time.Time, error) {
	var r struct {
		Edges []struct {
			EdgeID    string `json:"edge_id"`
			Watermark string `json:"watermark"`
		} `json:"edges"`
	}
	if _, err := a.do(ctx, "GET", "/v1/edges", nil, &r); err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, e := range r.Edges {
		t, _ := time.Parse(time.RFC3339Nano, e.Watermark)
		out[e.EdgeID] = t
	}
	return out, nil
}

// status is the part of GET /v1/status clickbench reads.
type status struct {
	CompleteThrough string `json:"complete_through"`
	Core            struct {
		Merge struct {
			Merged  uint64 `json:"partials_merged"`
			Pending uint64 `json:"partials_pending"`
		} `json:"merge"`
	} `json:"core"`
}

func (a *api) status(ctx context.Context) (status, error) {
	var s status
	_, err := a.do(ctx, "GET", "/v1/status", nil, &s)
	return s, err
}
