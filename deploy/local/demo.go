package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"
)

// runDemo registers sample ads and clicks them at the given rate across the edges,
// with Zipf-distributed ads, a spread of countries, and some duplicate clicks, until
// ctx ends. It uses only the public HTTP API, as an ad server and browsers would.
func runDemo(ctx context.Context, d *deployment, rate float64, log *slog.Logger) {
	api := "http://" + d.core.APIAddr()
	hc := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	const ads = 50
	for i := 0; i < ads; i++ {
		body := fmt.Sprintf(`{"advertiser_id":"adv%d","redirect_url":"https://example.com/landing/%d"}`, i%5, i)
		if err := call(ctx, hc, "PUT", fmt.Sprintf("%s/v1/ads/demo-%02d", api, i), d.adminToken, body, nil); err != nil {
			log.Error("demo: register ad", "err", err)
			return
		}
	}
	log.Info("demo: registered ads; clicking", "ads", ads, "rate", rate)
	countries := []string{"US", "DE", "FR", "GB", "JP", "BR", "IN", "CA"}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.2, 1, ads-1)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var last string
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		path := last
		if n%20 != 0 || last == "" { // every 20th click repeats an impression: a duplicate
			var resp struct {
				Impressions []struct {
					ClickPath string `json:"click_path"`
				} `json:"impressions"`
			}
			body := fmt.Sprintf(`{"ad_id":"demo-%02d","user_id":"user%d"}`, zipf.Uint64(), rand.IntN(1000))
			if err := call(ctx, hc, "POST", api+"/v1/impressions", d.adminToken, body, &resp); err != nil || len(resp.Impressions) == 0 {
				log.Warn("demo: impression", "err", err)
				continue
			}
			path = resp.Impressions[0].ClickPath
		}
		last = path
		e := d.edges[rand.IntN(len(d.edges))]
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+e.Addr()+path, nil)
		req.Header.Set("X-Geo-Country", countries[rand.IntN(len(countries))])
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", rand.IntN(250)+1))
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}

func call(ctx context.Context, hc *http.Client, method, url, tok, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}
