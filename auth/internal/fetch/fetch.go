// Package fetch is the bounded HTTP fetch that the revocation checks
// (CRL, OCSP) and the Web Key Directory share: a client whose redirects are
// limited, and a request whose answer must be 200 and whose body is read
// up to a bound.
package fetch

import (
	"fmt"
	"io"
	"net/http"
)

// Client returns a copy of base (nil: a plain http.Client) whose
// CheckRedirect follows at most maxRedirects redirects and, when httpsOnly
// is set, only to https URLs.
func Client(base *http.Client, maxRedirects int, httpsOnly bool) *http.Client {
	c := http.Client{}
	if base != nil {
		c = *base
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		switch {
		case len(via) > maxRedirects:
			return fmt.Errorf("more than %d redirects", maxRedirects)
		case httpsOnly && req.URL.Scheme != "https":
			return fmt.Errorf("redirect to a %s URL", req.URL.Scheme)
		}
		return nil
	}
	return &c
}

// StatusError is an answer other than 200 OK.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP status %d", e.Code) }

// TooLargeError is a body longer than the bound.
type TooLargeError struct{ Max int64 }

func (e *TooLargeError) Error() string { return fmt.Sprintf("larger than %d bytes", e.Max) }

// Do sends req with c and returns the body of a 200 answer, read up to max
// bytes: a *StatusError for another status, a *TooLargeError for a longer
// body.
func Do(c *http.Client, req *http.Request, max int64) ([]byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Code: resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > max {
		return nil, &TooLargeError{Max: max}
	}
	return body, nil
}
