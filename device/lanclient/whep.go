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
	path := "/api/v1/whep"
	if c.RelayDevice != "" {
		// Through the relay: it carries the offer and answer over the
		// device's MQTT cmd and reply topics.
		path = "/v1/devices/" + c.RelayDevice + "/whep"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base.String()+path, bytes.NewReader(offer))
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
		return nil, "", fmt.Errorf("lanclient: POST %s: reading the answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, "", apiError(resp.StatusCode, raw)
	}
	loc := resp.Header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || u.IsAbs() || !strings.HasPrefix(u.Path, path+"/") || strings.Contains(strings.TrimPrefix(u.Path, path+"/"), "/") {
		return nil, "", fmt.Errorf("lanclient: POST %s: the device answered with Location %q (expected %s/<id>)", path, shorten([]byte(loc)), path)
	}
	return raw, u.Path, nil
}

// EndWHEP ends the live session at location (DELETE).
func (c *Client) EndWHEP(ctx context.Context, location string) error {
	prefix := "/api/v1/whep/"
	if c != nil && c.RelayDevice != "" {
		prefix = "/v1/devices/" + c.RelayDevice + "/whep/"
	}
	if !strings.HasPrefix(location, prefix) {
		return fmt.Errorf("lanclient: %q is not a live session location", location)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.Base.String()+location, nil)
	if err != nil {
		return fmt.Errorf("lanclient: %w", err)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("lanclient: cannot reach the device at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode != http.StatusNoContent {
		return apiError(resp.StatusCode, raw)
	}
	return nil
}
