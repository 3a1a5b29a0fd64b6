package device

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/lanapi"
)

var _ lanapi.GranteeReads = door{}

// VerifyFetch checks a grantee's fetch statement (gate.VerifyFetch).
func (d door) VerifyFetch(statement []byte, grant, request string) error {
	_, err := d.a.gate.VerifyFetch(statement, grant, request)
	return apiError(err)
}

// grantPieces maps each clip a grant disclosed to its pieces on disk, in
// playback order, from the grant's delivered jobs: the jobs of one clip
// share the directory <state>/disclosures/<jti>/<clip> (jobs of earlier
// releases have their own, <state>/disclosures/<job-id>). Names come from
// the jobs' records, never from a request.
func (d door) grantPieces(grant string) ([]string, map[string][]string, bool, error) {
	jobs, err := d.a.gate.GrantJobs(grant)
	if err != nil {
		return nil, nil, false, err
	}
	root := filepath.Join(d.a.opts.StateDir, disclosuresDir)
	var order []string
	paths := map[string][]string{}
	strict := false
	for _, j := range jobs {
		strict = strict || j.Strict
		if _, ok := paths[j.Clip]; !ok {
			order = append(order, j.Clip)
		}
		for _, f := range j.Files {
			p := filepath.Join(root, filepath.FromSlash(j.DirName()), f)
			if !strings.HasPrefix(p, root+string(filepath.Separator)) || filepath.Base(p) != f {
				continue
			}
			dup := false
			for _, q := range paths[j.Clip] {
				dup = dup || filepath.Base(q) == f
			}
			if !dup {
				paths[j.Clip] = append(paths[j.Clip], p)
			}
		}
	}
	for _, c := range order {
		sortByBase(paths[c])
	}
	return order, paths, strict, nil
}

// sortByBase sorts piece paths by name: playback order.
func sortByBase(ps []string) {
	slices.SortFunc(ps, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
}

// GrantDisclosures lists what the grant disclosed that is on the device.
func (d door) GrantDisclosures(grant string) (api.GrantDisclosures, error) {
	order, paths, strict, err := d.grantPieces(grant)
	if err != nil {
		return api.GrantDisclosures{}, err
	}
	out := api.GrantDisclosures{Grant: grant, Strict: strict}
	if gs, err := d.a.gate.Grants(); err == nil {
		for _, g := range gs {
			if g.JTI == grant {
				out.Following = g.Follow && g.Revoked.IsZero() && d.a.opts.Clock.Now().Before(g.Until) && d.a.opts.Clock.Now().Before(g.Expires)
			}
		}
	}
	for _, c := range order {
		gc := api.GrantClip{Clip: c}
		for _, p := range paths[c] {
			st, err := os.Stat(p)
			if err != nil {
				continue
			}
			gc.Pieces = append(gc.Pieces, api.Piece{Name: filepath.Base(p), Size: st.Size()})
		}
		if len(gc.Pieces) > 0 {
			out.Clips = append(out.Clips, gc)
		}
	}
	return out, nil
}

// OpenGrantPiece opens a piece named in the grant's listing.
func (d door) OpenGrantPiece(grant, clip, piece string) (io.ReadCloser, int64, error) {
	_, paths, _, err := d.grantPieces(grant)
	if err != nil {
		return nil, 0, err
	}
	for _, p := range paths[clip] {
		if filepath.Base(p) != piece {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			break
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, st.Size(), nil
	}
	return nil, 0, &lanapi.Error{Status: http.StatusNotFound, Reason: "unknown-piece", Err: fmt.Errorf("device: grant %s disclosed no piece %s of clip %s here", grant, piece, clip)}
}
