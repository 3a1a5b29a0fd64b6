package consent

import (
	"strings"
	"testing"
)

func TestContactRoundTrip(t *testing.T) {
	for _, pq := range []bool{false, true} {
		k, err := GenerateOwnerKey(pq)
		if err != nil {
			t.Fatal(err)
		}
		s, err := k.Contact()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, ContactPrefix) || !IsContact(s) {
			t.Fatalf("contact %q does not start with %s", s, ContactPrefix)
		}
		c, err := ParseContact(s)
		if err != nil {
			t.Fatal(err)
		}
		if c.Recipient != k.RecipientString() || !c.SigningKey.Equal(k.SigningPublicKey()) || c.String() != s {
			t.Fatalf("parsed %+v", c)
		}
		if c.Grantee() != FormatIssuerKey(k.SigningPublicKey()) {
			t.Errorf("grantee %s", c.Grantee())
		}
		// Upper case is the same contact (QR codes use it).
		if u, err := ParseContact(strings.ToUpper(s)); err != nil || u.Recipient != c.Recipient {
			t.Errorf("upper case: %v", err)
		}
		// One character changed anywhere fails the checksum.
		for _, i := range []int{len(ContactPrefix) + 3, len(s) / 2, len(s) - 1} {
			b := []byte(s)
			if b[i] == 'q' {
				b[i] = 'p'
			} else {
				b[i] = 'q'
			}
			if _, err := ParseContact(string(b)); err == nil || !strings.Contains(err.Error(), "checksum") {
				t.Errorf("a typo at %d: %v", i, err)
			}
		}
	}
	for _, bad := range []string{"", "age1xyz", "doorward-contact1", "doorward-contact1qqqqqqqqqqqq", strings.Repeat("doorward-contact1q", 1000)} {
		if _, err := ParseContact(bad); err == nil {
			t.Errorf("ParseContact(%.40q) accepted it", bad)
		}
	}
}

// FuzzParseContact: a contact that parses formats back to itself (in
// lower case), and its parts are valid.
func FuzzParseContact(f *testing.F) {
	for _, pq := range []bool{false, true} {
		k, _ := GenerateOwnerKey(pq)
		s, _ := k.Contact()
		f.Add(s)
	}
	f.Add("doorward-contact1qqqqqqqqqqqq")
	f.Add("age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseContact(s)
		if err != nil {
			return
		}
		again, err := FormatContact(c.Recipient, c.SigningKey)
		if err != nil {
			t.Fatalf("a parsed contact does not format: %v", err)
		}
		if again != strings.ToLower(strings.TrimSpace(s)) {
			t.Fatalf("%q formats back as %q", s, again)
		}
		if _, err := ParseRecipients([]string{c.Recipient}); err != nil {
			t.Fatalf("parsed recipient %q: %v", c.Recipient, err)
		}
	})
}
