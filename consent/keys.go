package consent

import (
	"bufio"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"
)

// signingKeyLabel is the HKDF info label that derives the owner's Ed25519
// signing key from the owner's age identity. It must never change: every
// grant, revocation, policy and enrollment an owner ever signed, and every
// device that enrolled the owner, depends on the derived key staying the
// same. A new derivation needs a new label and a migration, not an edit.
const signingKeyLabel = "doorward owner signing key v1"

// maxOwnerKeyFile bounds how much of an owner key file ParseOwnerKey reads.
// A real file is well under 4 KiB (a hybrid public key comment is about
// 2 KiB).
const maxOwnerKeyFile = 64 << 10

// RecipientFamily is the kind of age key a set of recipients uses. age
// refuses to encrypt one file to both families (the classic recipients
// would leave it open to a quantum computer), so a device keeps to one.
type RecipientFamily int

const (
	// Classic is X25519: recipients "age1...", identities
	// "AGE-SECRET-KEY-1...". Every age version opens such files.
	Classic RecipientFamily = iota + 1
	// PostQuantum is age's hybrid ML-KEM-768 + X25519: recipients
	// "age1pq1...", identities "AGE-SECRET-KEY-PQ-1...". Opening such files
	// needs age 1.3 or later.
	PostQuantum
)

// String returns "classic" or "post-quantum".
func (f RecipientFamily) String() string {
	switch f {
	case Classic:
		return "classic"
	case PostQuantum:
		return "post-quantum"
	default:
		return fmt.Sprintf("RecipientFamily(%d)", int(f))
	}
}

// Valid reports whether f is Classic or PostQuantum.
func (f RecipientFamily) Valid() bool { return f == Classic || f == PostQuantum }

// FamilyOf returns the family of an age recipient: Classic for
// *age.X25519Recipient, PostQuantum for *age.HybridRecipient. Any other
// recipient type is an error.
func FamilyOf(r age.Recipient) (RecipientFamily, error) {
	switch r.(type) {
	case *age.X25519Recipient:
		return Classic, nil
	case *age.HybridRecipient:
		return PostQuantum, nil
	default:
		return 0, fmt.Errorf("consent: recipient of type %T is neither X25519 (age1...) nor hybrid post-quantum (age1pq1...)", r)
	}
}

// OwnerKey is an owner's age identity: X25519, or hybrid ML-KEM-768 + X25519
// when post-quantum. It opens the owner's clips with stock age, and the
// owner's Ed25519 signing key is derived from it (see SigningKey).
type OwnerKey struct {
	identity  age.Identity
	secret    string // canonical encoding, AGE-SECRET-KEY-[PQ-]1...
	recipient age.Recipient
	public    string // age1... or age1pq1...
	pq        bool
	created   time.Time // zero when the file had no "# created:" line
	signing   ed25519.PrivateKey
}

// GenerateOwnerKey creates a new owner key: hybrid post-quantum when
// postQuantum is true, X25519 otherwise.
func GenerateOwnerKey(postQuantum bool) (*OwnerKey, error) {
	var secret string
	if postQuantum {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return nil, fmt.Errorf("consent: generate post-quantum owner key: %w", err)
		}
		secret = id.String()
	} else {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, fmt.Errorf("consent: generate owner key: %w", err)
		}
		secret = id.String()
	}
	k, err := newOwnerKey(secret)
	if err != nil {
		return nil, err
	}
	k.created = time.Now().Truncate(time.Second)
	return k, nil
}

// newOwnerKey parses one identity line. Its errors never contain the line:
// it is secret key material and errors get printed.
func newOwnerKey(line string) (*OwnerKey, error) {
	k := &OwnerKey{}
	switch {
	case strings.HasPrefix(line, "AGE-SECRET-KEY-PQ-1"):
		id, err := age.ParseHybridIdentity(line)
		if err != nil {
			return nil, errors.New("malformed post-quantum age identity (AGE-SECRET-KEY-PQ-1...)")
		}
		k.identity, k.secret, k.pq = id, id.String(), true
		r := id.Recipient()
		k.recipient, k.public = r, r.String()
	case strings.HasPrefix(line, "AGE-SECRET-KEY-1"):
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, errors.New("malformed age identity (AGE-SECRET-KEY-1...)")
		}
		k.identity, k.secret = id, id.String()
		r := id.Recipient()
		k.recipient, k.public = r, r.String()
	default:
		return nil, errors.New("not an age identity: expected a line starting AGE-SECRET-KEY-1 (classic) or AGE-SECRET-KEY-PQ-1 (post-quantum)")
	}
	seed, err := hkdf.Key(sha256.New, []byte(k.secret), nil, signingKeyLabel, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("derive signing key: %w", err)
	}
	k.signing = ed25519.NewKeyFromSeed(seed)
	return k, nil
}

// ParseOwnerKey reads an owner key from a standard age identity file, as
// written by WriteTo or age-keygen: blank lines and "#" comments are
// allowed, and exactly one identity must be present. A "# created:" comment
// is kept; a "# public key:" comment must match the identity, so that a
// damaged or hand-merged file is caught. Errors never quote the secret key.
func ParseOwnerKey(r io.Reader) (*OwnerKey, error) {
	lr := &io.LimitedReader{R: r, N: maxOwnerKeyFile + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), maxOwnerKeyFile+1)
	var (
		key       *OwnerKey
		keyLine   int
		created   time.Time
		publicKey string
		n         int
	)
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("consent: owner key file line %d is not valid UTF-8", n)
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			continue
		case strings.HasPrefix(trimmed, "#"):
			comment := strings.TrimSpace(strings.TrimPrefix(trimmed, "#"))
			if v, ok := strings.CutPrefix(comment, "created:"); ok {
				// age-keygen writes RFC 3339; anything else is only a comment.
				if t, err := time.Parse(time.RFC3339, strings.TrimSpace(v)); err == nil {
					created = t
				}
			} else if v, ok := strings.CutPrefix(comment, "public key:"); ok {
				publicKey = strings.TrimSpace(v)
			}
			continue
		}
		if key != nil {
			return nil, fmt.Errorf("consent: owner key file has more than one identity (lines %d and %d); expected exactly one", keyLine, n)
		}
		k, err := newOwnerKey(trimmed)
		if err != nil {
			return nil, fmt.Errorf("consent: owner key file line %d: %w", n, err)
		}
		key, keyLine = k, n
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("consent: owner key file is larger than %d bytes; it is not an age identity file", maxOwnerKeyFile)
		}
		return nil, fmt.Errorf("consent: read owner key file: %w", err)
	}
	if lr.N == 0 {
		return nil, fmt.Errorf("consent: owner key file is larger than %d bytes; it is not an age identity file", maxOwnerKeyFile)
	}
	if key == nil {
		return nil, errors.New("consent: owner key file has no identity: expected one line starting AGE-SECRET-KEY-1 or AGE-SECRET-KEY-PQ-1")
	}
	if publicKey != "" && publicKey != key.public {
		return nil, fmt.Errorf("consent: owner key file's \"# public key:\" comment (%s) does not match its identity (%s); the file is damaged or was edited", shorten(publicKey), shorten(key.public))
	}
	key.created = created
	return key, nil
}

// WriteTo writes k as a standard age identity file, in the layout age-keygen
// uses:
//
//	# created: 2026-01-02T15:04:05+01:00
//	# public key: age1...
//	AGE-SECRET-KEY-1...
//
// so that stock "age -d -i FILE" opens files encrypted to k (post-quantum
// keys need age 1.3 or later). The created line is left out for a key parsed
// from a file that had none. The caller picks the file and its mode (0600).
func (k *OwnerKey) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	if !k.created.IsZero() {
		fmt.Fprintf(&b, "# created: %s\n", k.created.Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "# public key: %s\n", k.public)
	fmt.Fprintf(&b, "%s\n", k.secret)
	n, err := io.WriteString(w, b.String())
	if err != nil {
		return int64(n), fmt.Errorf("consent: write owner key: %w", err)
	}
	return int64(n), nil
}

// Created returns the time from the key file's "# created:" line, or the
// generation time; zero if unknown.
func (k *OwnerKey) Created() time.Time { return k.created }

// Recipient returns the age recipient that files for this owner are
// encrypted to.
func (k *OwnerKey) Recipient() age.Recipient { return k.recipient }

// RecipientString returns the recipient's encoding: "age1..." for classic
// keys, "age1pq1..." for post-quantum ones.
func (k *OwnerKey) RecipientString() string { return k.public }

// Identity returns the age identity that decrypts files encrypted to
// Recipient.
func (k *OwnerKey) Identity() age.Identity { return k.identity }

// PostQuantum reports whether k is a hybrid ML-KEM-768 + X25519 key.
func (k *OwnerKey) PostQuantum() bool { return k.pq }

// Family returns PostQuantum or Classic, matching PostQuantum.
func (k *OwnerKey) Family() RecipientFamily {
	if k.pq {
		return PostQuantum
	}
	return Classic
}

// SigningKey returns the owner's Ed25519 signing key, which signs grants,
// revocations, policy, enrollment, live and login statements. It is derived
// as the Ed25519 seed HKDF-SHA256(ikm = the identity's canonical string
// encoding "AGE-SECRET-KEY-[PQ-]1...", salt = none, info = "doorward owner
// signing key v1"), so the same identity always gives the same signing key
// and different identities give unrelated ones. The label must never
// change: devices and past statements depend on it. The returned slice is a
// copy.
func (k *OwnerKey) SigningKey() ed25519.PrivateKey {
	return append(ed25519.PrivateKey(nil), k.signing...)
}

// SigningPublicKey returns the public half of SigningKey.
func (k *OwnerKey) SigningPublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), k.signing.Public().(ed25519.PublicKey)...)
}

// ParseRecipients parses age recipients given as strings, as an owner or
// issuer types them: X25519 ("age1...") or hybrid post-quantum
// ("age1pq1..."). SSH keys, plugin and tag recipients are refused, and so is
// a mix of classic and post-quantum recipients: age refuses to encrypt one
// file to both, because the classic recipient would leave the file open to a
// quantum computer. Surrounding spaces are ignored. Each error names the bad
// value (shortened when long) and what would be valid.
func ParseRecipients(strs []string) ([]age.Recipient, error) {
	if len(strs) == 0 {
		return nil, errors.New("consent: no recipients: give at least one age recipient (age1... or age1pq1...)")
	}
	var (
		out          []age.Recipient
		firstClassic string
		firstPQ      string
	)
	for i, s := range strs {
		s = strings.TrimSpace(s)
		r, fam, err := parseRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("consent: recipient %d: %w", i+1, err)
		}
		switch fam {
		case Classic:
			if firstClassic == "" {
				firstClassic = s
			}
		case PostQuantum:
			if firstPQ == "" {
				firstPQ = s
			}
		}
		out = append(out, r)
	}
	if firstClassic != "" && firstPQ != "" {
		return nil, fmt.Errorf("consent: recipients mix classic %s and post-quantum %s: age refuses to encrypt to both in one file, since the classic key would leave it open to quantum attack; use only post-quantum recipients (age-keygen -pq, age 1.3 or later) or only classic ones", shorten(firstClassic), shorten(firstPQ))
	}
	return out, nil
}

// parseRecipient parses one recipient and tells its family. The bech32
// human-readable part is everything before the last "1": "age" for X25519,
// "age1pq" for hybrid, "age1<name>" for plugins and tags.
func parseRecipient(s string) (age.Recipient, RecipientFamily, error) {
	const valid = "expected an age recipient age1... (X25519) or age1pq1... (post-quantum)"
	switch {
	case s == "":
		return nil, 0, fmt.Errorf("empty; %s", valid)
	case strings.HasPrefix(strings.ToUpper(s), "AGE-SECRET-KEY-"):
		// Never echo secret key material.
		return nil, 0, fmt.Errorf("this is a secret key, not a recipient; give its public key (%s), and keep the secret key private", valid)
	case strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "sk-ssh-") || strings.HasPrefix(s, "ecdsa-"):
		return nil, 0, fmt.Errorf("%s is an SSH key, which Doorward does not accept; %s", shorten(s), valid)
	}
	hrp := strings.ToLower(s)
	if i := strings.LastIndexByte(hrp, '1'); i >= 0 {
		hrp = hrp[:i]
	}
	switch {
	case hrp == "age":
		// age's own errors quote the whole value; say it once, shortened.
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, 0, fmt.Errorf("%s is not a valid X25519 recipient (bad characters, checksum or length); %s", shorten(s), valid)
		}
		return r, Classic, nil
	case hrp == "age1pq":
		r, err := age.ParseHybridRecipient(s)
		if err != nil {
			return nil, 0, fmt.Errorf("%s is not a valid post-quantum recipient (bad characters, checksum or length); %s", shorten(s), valid)
		}
		return r, PostQuantum, nil
	case strings.HasPrefix(hrp, "age1"):
		return nil, 0, fmt.Errorf("%s is a plugin or tag recipient, which Doorward does not accept; %s", shorten(s), valid)
	default:
		return nil, 0, fmt.Errorf("%s is not an age recipient; %s", shorten(s), valid)
	}
}

// shorten keeps errors readable: a hybrid recipient is about 2,000
// characters long.
func shorten(s string) string {
	const head, tail = 16, 8
	if len(s) <= head+tail+3 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q", s[:head]+"..."+s[len(s)-tail:])
}
