package consent_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"strings"

	"filippo.io/age"

	"github.com/doorward/doorward/consent"
)

// An owner key is a standard age identity file: what is encrypted to its
// recipient opens with the key, in Go or with stock "age -d -i".
func ExampleGenerateOwnerKey() {
	key, err := consent.GenerateOwnerKey(false)
	if err != nil {
		log.Fatal(err)
	}
	var file bytes.Buffer // owner.key, written with mode 0600
	if _, err := key.WriteTo(&file); err != nil {
		log.Fatal(err)
	}

	loaded, err := consent.ParseOwnerKey(&file)
	if err != nil {
		log.Fatal(err)
	}
	var clip bytes.Buffer
	w, err := age.Encrypt(&clip, loaded.Recipient())
	if err != nil {
		log.Fatal(err)
	}
	io.WriteString(w, "segment")
	w.Close()
	r, err := age.Decrypt(&clip, key.Identity())
	if err != nil {
		log.Fatal(err)
	}
	plain, _ := io.ReadAll(r)
	fmt.Println(string(plain))
	fmt.Println(strings.HasPrefix(key.RecipientString(), "age1"))
	fmt.Println(bytes.Equal(key.SigningPublicKey(), loaded.SigningPublicKey()))
	// Output:
	// segment
	// true
	// true
}

// ParseRecipients keeps to one key family and says what is valid.
func ExampleParseRecipients() {
	_, err := consent.ParseRecipients([]string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW"})
	fmt.Println(err)
	// Output:
	// consent: recipient 1: "ssh-ed25519 AAAA...LqeplhpW" is an SSH key, which Doorward does not accept; expected an age recipient age1... (X25519) or age1pq1... (post-quantum)
}
