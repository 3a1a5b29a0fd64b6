package live

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/doorward/doorward/consent"
)

// WHEP paths on the device's LAN API.
const (
	WHEPPath         = "/api/v1/whep"
	WHEPResourcePath = "/api/v1/whep/{id}"
)

// Reason codes of refusals that are not the gate's.
const (
	ReasonNoStatement = "no-statement" // no Authorization: Doorward <live statement>
	ReasonBadOffer    = "bad-offer"    // the SDP offer is unusable
	ReasonMaxViewers  = "max-viewers"  // live.max_viewers sessions are running
	ReasonContentType = "content-type" // the body is not application/sdp
)

// Error is the JSON body of a refusal, as on the rest of the LAN API.
type Error struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// Register mounts the WHEP endpoints on mux:
//
//	POST   /api/v1/whep       Content-Type: application/sdp, Authorization: Doorward <live statement>
//	                          → 201, the SDP answer, Location: /api/v1/whep/{id}
//	DELETE /api/v1/whep/{id}  → 204, the session ends
func (s *Server) Register(mux Mux) {
	mux.Handle("POST "+WHEPPath, http.HandlerFunc(s.handleOffer))
	mux.Handle("DELETE "+WHEPResourcePath, http.HandlerFunc(s.handleDelete))
}

// Mux is where Register adds routes: an *http.ServeMux, or the LAN API.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

func writeError(w http.ResponseWriter, status int, reason string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(Error{Reason: reason, Error: err.Error()})
}

// ParseAuthorization returns the live statement of an Authorization header
// "Doorward <statement>", where the statement is its JWS JSON or base64url
// of it.
func ParseAuthorization(h string) ([]byte, error) {
	tok, ok := strings.CutPrefix(h, "Doorward ")
	if !ok || strings.TrimSpace(tok) == "" {
		return nil, errors.New("live: send Authorization: Doorward <live statement>")
	}
	tok = strings.TrimSpace(tok)
	if strings.HasPrefix(tok, "{") {
		return []byte(tok), nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, errors.New("live: the live statement must be its JWS JSON or base64url of it")
	}
	return raw, nil
}

func (s *Server) handleOffer(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/sdp" {
		writeError(w, http.StatusUnsupportedMediaType, ReasonContentType, errors.New("live: expected Content-Type: application/sdp"))
		return
	}
	statement, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		writeError(w, http.StatusUnauthorized, ReasonNoStatement, err)
		return
	}
	if len(statement) > consent.MaxStatementSize {
		writeError(w, http.StatusBadRequest, string(consent.ReasonBodyTooLarge), errors.New("live: live statement too large"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxOfferSize+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, ReasonBadOffer, err)
		return
	}
	ans, err := s.Offer(r.Context(), statement, body)
	if err != nil {
		status, reason := Status(err)
		writeError(w, status, reason, err)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", WHEPPath+"/"+ans.ID)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, ans.SDP)
}

// Status maps an Offer error to the HTTP status and reason code the LAN API
// and the relay answer with.
func Status(err error) (int, string) {
	switch reason := consent.ReasonOf(err); {
	case errors.Is(err, ErrTooManyViewers):
		return http.StatusServiceUnavailable, ReasonMaxViewers
	case errors.Is(err, ErrBadOffer):
		return http.StatusBadRequest, ReasonBadOffer
	case reason == consent.ReasonMalformed || reason == consent.ReasonBodyTooLarge:
		return http.StatusBadRequest, string(reason)
	case reason != "":
		return http.StatusForbidden, string(reason)
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, "shutting-down"
	}
	return http.StatusInternalServerError, "internal"
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.End(r.PathValue("id")); err != nil {
		writeError(w, http.StatusNotFound, "unknown-session", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
