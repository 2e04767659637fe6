package wire

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Catalogue keys in CatalogBucket.
const (
	adKeyPrefix     = "ad."
	keyKeyPrefix    = "signkey."
	filterKeyPrefix = "filter."
)

// FilterBucket is the hub object store holding uploaded Wasm modules, named by
// FilterObject. Edges fetch the active version and keep a copy on disk.
const FilterBucket = "filters"

// FilterKey is the catalogue key of a filter's record.
func FilterKey(name string) string { return filterKeyPrefix + name }

// FilterObject names a filter version's module in FilterBucket.
func FilterObject(name string, version int) string { return fmt.Sprintf("%s/v%d", name, version) }

// Filter is a partner filter's catalogue record (JSON): its versions and which one
// edges run. Active 0 means none.
type Filter struct {
	Owner    string          `json:"owner"` // partner id, or "" for the admin's
	Active   int             `json:"active"`
	Versions []FilterVersion `json:"versions"`
}

// FilterVersion is one uploaded module.
type FilterVersion struct {
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
	Size    int    `json:"size"`
	Created string `json:"created"`
}

// ActiveVersion returns the active version's record.
func (f *Filter) ActiveVersion() (FilterVersion, bool) {
	for _, v := range f.Versions {
		if v.Version == f.Active && f.Active > 0 {
			return v, true
		}
	}
	return FilterVersion{}, false
}

var filterNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,47}$`)

// CheckFilterName returns an error unless name is [a-z0-9][a-z0-9_-]{0,47}.
func CheckFilterName(name string) error {
	if !filterNameRe.MatchString(name) || name == "sigcheck" {
		return fmt.Errorf("filter name %q must match [a-z0-9][a-z0-9_-]{0,47} and not be the built-in sigcheck", name)
	}
	return nil
}

// AdKey is the catalogue key of an ad.
func AdKey(adID string) string { return adKeyPrefix + adID }

// SigningKeyKey is the catalogue key of a token signing key.
func SigningKeyKey(id uint32) string { return keyKeyPrefix + strconv.FormatUint(uint64(id), 10) }

// ParseCatalogKey splits a catalogue key into its kind ("ad" or "signkey") and id.
func ParseCatalogKey(k string) (kind, id string, ok bool) {
	switch {
	case strings.HasPrefix(k, adKeyPrefix):
		return "ad", k[len(adKeyPrefix):], true
	case strings.HasPrefix(k, keyKeyPrefix):
		return "signkey", k[len(keyKeyPrefix):], true
	case strings.HasPrefix(k, filterKeyPrefix):
		return "filter", k[len(filterKeyPrefix):], true
	}
	return "", "", false
}

// Ad is an ad's catalogue record (JSON).
type Ad struct {
	AdvertiserID string `json:"advertiser_id"`
	RedirectURL  string `json:"redirect_url"`
}

// CheckRedirectURL returns an error unless u is an absolute http(s) URL with a host.
// It is checked when an ad is registered and again when an edge loads it, so an
// edge never redirects anywhere but an ad's registered URL.
func CheckRedirectURL(u string) error {
	if len(u) > 2048 {
		return fmt.Errorf("redirect_url is longer than 2048 bytes")
	}
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("redirect_url: %w", err)
	}
	if (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
		return fmt.Errorf("redirect_url must be an absolute http(s) URL without credentials, got %q", u)
	}
	if strings.ContainsAny(u, "\r\n\x00") {
		return fmt.Errorf("redirect_url has control characters")
	}
	return nil
}

// DecodeAd decodes and checks a catalogue ad record.
func DecodeAd(b []byte) (Ad, error) {
	var a Ad
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("decode ad: %w", err)
	}
	return a, CheckRedirectURL(a.RedirectURL)
}

// SigningKey is a token signing key's catalogue record (JSON; Key is base64).
type SigningKey struct {
	Key []byte `json:"key"`
}
