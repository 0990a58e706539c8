package fetch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte("12345"))
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	get := func(path string, max int64, httpsOnly bool) ([]byte, error) {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return Do(Client(nil, 2, httpsOnly), req, max)
	}
	if b, err := get("/ok", 5, false); err != nil || string(b) != "12345" {
		t.Errorf("exactly max bytes: %q, %v", b, err)
	}
	var large *TooLargeError
	if _, err := get("/ok", 4, false); !errors.As(err, &large) || large.Max != 4 {
		t.Errorf("max+1 bytes: %v, want a TooLargeError", err)
	}
	var status *StatusError
	if _, err := get("/missing", 5, false); !errors.As(err, &status) || status.Code != 404 {
		t.Errorf("404: %v, want a StatusError", err)
	}
	if _, err := get("/loop", 5, false); err == nil || !strings.Contains(err.Error(), "more than 2 redirects") {
		t.Errorf("redirect loop: %v", err)
	}
	if _, err := get("/loop", 5, true); err == nil || !strings.Contains(err.Error(), "redirect to a http URL") {
		t.Errorf("redirect to http: %v", err)
	}
}
