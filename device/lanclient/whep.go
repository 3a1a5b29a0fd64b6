package lanclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// WHEP posts a WebRTC offer with its live statement (POST /api/v1/whep)
// and returns the device's SDP answer and the session's location, which
// EndWHEP takes.
func (c *Client) WHEP(ctx context.Context, statement, offer []byte) ([]byte, string, error) {
	if c == nil || c.Base == nil {
		return nil, "", fmt.Errorf("lanclient: no device URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base.String()+"/api/v1/whep", bytes.NewReader(offer))
	if err != nil {
		return nil, "", fmt.Errorf("lanclient: %w", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", bearer(statement))
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("lanclient: cannot reach the device at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", fmt.Errorf("lanclient: POST /api/v1/whep: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, "", apiError(resp.StatusCode, raw)
	}
	loc := resp.Header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || u.IsAbs() || !strings.HasPrefix(u.Path, "/api/v1/whep/") {
		return nil, "", fmt.Errorf("lanclient: POST /api/v1/whep: the device answered with Location %q (expected /api/v1/whep/<id>)", shorten([]byte(loc)))
	}
	return raw, u.Path, nil
}

// EndWHEP ends the live session at location (DELETE).
func (c *Client) EndWHEP(ctx context.Context, location string) error {
	if !strings.HasPrefix(location, "/api/v1/whep/") {
		return fmt.Errorf("lanclient: %q is not a live session location", location)
	}
	_, err := c.raw(ctx, http.MethodDelete, location, "", nil, []int{http.StatusNoContent})
	return err
}
