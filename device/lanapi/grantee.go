package lanapi

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/api"
)

// GranteeReads serves a grantee what their grant disclosed. VerifyFetch
// checks the grantee's fetch statement for one request ("GET <path>");
// OpenPiece finds a piece by clip ID and a name from the listing (never a
// path); an unknown one is an *Error with status 404.
type GranteeReads interface {
	VerifyFetch(statement []byte, grant, request string) error
	GrantDisclosures(grant string) (api.GrantDisclosures, error)
	OpenGrantPiece(grant, clip, piece string) (io.ReadCloser, int64, error)
}

// grantee wraps a handler for a grantee's reads: the bearer is a
// single-use fetch statement signed by the grant's grantee key and bound
// to this request.
func (s *Server) grantee(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := bearerStatement(w, r, "send Authorization: Doorward <fetch statement signed by the grantee key>")
		if !ok {
			return
		}
		request := r.Method + " " + r.URL.EscapedPath()
		if err := s.cfg.Grantees.VerifyFetch(raw, r.PathValue("grant"), request); err != nil {
			reason := string(consent.ReasonOf(err))
			status := http.StatusForbidden
			if reason == "" {
				var ae *Error
				if errors.As(err, &ae) {
					refuse(w, ae)
					return
				}
				reason, status = "refused", http.StatusUnauthorized
			} else if consent.Unauthenticated(err) {
				status = http.StatusUnauthorized
			}
			s.cfg.Log.Warn("grantee fetch refused", "grant", r.PathValue("grant"), "reason", reason)
			writeJSON(w, status, api.Error{Reason: reason, Error: err.Error()})
			return
		}
		h(w, r)
	}
}

func (s *Server) grantDisclosures(w http.ResponseWriter, r *http.Request) {
	d, err := s.cfg.Grantees.GrantDisclosures(r.PathValue("grant"))
	if err != nil {
		refuse(w, err)
		return
	}
	if d.Clips == nil {
		d.Clips = []api.GrantClip{}
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) grantPiece(w http.ResponseWriter, r *http.Request) {
	rc, size, err := s.cfg.Grantees.OpenGrantPiece(r.PathValue("grant"), r.PathValue("clip"), r.PathValue("piece"))
	if err != nil {
		refuse(w, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.CopyN(w, rc, size); err != nil {
		s.cfg.Log.Warn("sending a disclosed piece", "grant", r.PathValue("grant"), "clip", r.PathValue("clip"), "piece", r.PathValue("piece"), "err", err)
	}
}
