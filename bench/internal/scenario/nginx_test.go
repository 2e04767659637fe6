package scenario

import (
	"errors"
	"testing"
)

// nginx answers the generator's clicks with a 302 and stops cleanly.
func TestNginx(t *testing.T) {
	n, err := startNginx(t.TempDir())
	if errors.Is(err, errNoNginx) {
		t.Skip("nginx is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer n.stop()
	s := newSender([]string{n.addr}, 2)
	if r := s.send(0, "/c/abc", "10.0.0.1", "DE", "u1"); r.err != nil || r.status != 302 || !r.location {
		t.Fatalf("nginx answered %+v", r)
	}
	n.stop()
	if r := s.send(0, "/c/abc", "", "", ""); r.err == nil {
		t.Fatalf("nginx still answers after stop: %+v", r)
	}
}
