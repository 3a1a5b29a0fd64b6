package rewrap

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestWriteSeeds regenerates testdata/fuzz/FuzzParseHeader when
// DOORWARD_WRITE_SEEDS=1.
func TestWriteSeeds(t *testing.T) {
	if os.Getenv("DOORWARD_WRITE_SEEDS") != "1" {
		t.Skip("set DOORWARD_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParseHeader")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		s := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	classic, pq := newKeys(t, false), newKeys(t, true)
	_, c := segment(t, classic, 64)
	_, p := segment(t, pq, 64)
	write("x25519-two-stanzas", c)
	write("hybrid-two-stanzas", p)
	out, err := rewrapBytes(t, c, classic.vault, classic.granteeR)
	if err != nil {
		t.Fatal(err)
	}
	write("rewrapped-one-stanza", out)
	hc := parse(t, c)
	write("header-only", c[:hc.Size])
	write("truncated", c[:hc.Size/2])
	write("empty-body", []byte(intro+"-> t\n\n--- "+b64.EncodeToString(make([]byte, 32))+"\n"))
	write("full-line-body", []byte(intro+"-> t a\n"+strings.Repeat("A", 64)+"\n\n--- "+b64.EncodeToString(make([]byte, 32))+"\n"))
	write("garbage", []byte("not age\n"))
	write("no-stanzas", []byte(intro+"--- "+b64.EncodeToString(make([]byte, 32))+"\n"))
	write("crlf", []byte(strings.ReplaceAll(string(c[:hc.Size]), "\n", "\r\n")))
	var sb strings.Builder
	w, err := age.Encrypt(&sb, &grease{}, classic.vaultR)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	write("many-args", []byte(sb.String()))
}

type grease struct{}

func (grease) Wrap([]byte) ([]*age.Stanza, error) {
	return []*age.Stanza{{Type: "grease", Args: []string{"a", "b", "c", "d"}, Body: make([]byte, 50)}}, nil
}
