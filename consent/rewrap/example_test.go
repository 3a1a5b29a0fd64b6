package rewrap_test

import (
	"bytes"
	"fmt"
	"io"

	"filippo.io/age"

	"github.com/doorward/doorward/consent/rewrap"
)

// A segment stored for the owner and the vault is re-wrapped for a grantee,
// who alone can open the result.
func ExampleRewrap() {
	owner, _ := age.GenerateX25519Identity()
	vault, _ := age.GenerateX25519Identity()
	grantee, _ := age.GenerateX25519Identity()

	var segment bytes.Buffer
	w, _ := age.Encrypt(&segment, owner.Recipient(), vault.Recipient())
	io.WriteString(w, "moof+mdat")
	w.Close()

	var disclosed bytes.Buffer
	if err := rewrap.Rewrap(&disclosed, &segment, vault, grantee.Recipient()); err != nil {
		fmt.Println(err)
		return
	}
	r, _ := age.Decrypt(bytes.NewReader(disclosed.Bytes()), grantee)
	plain, _ := io.ReadAll(r)
	fmt.Printf("grantee reads %q\n", plain)
	_, err := age.Decrypt(bytes.NewReader(disclosed.Bytes()), owner, vault)
	fmt.Println("owner or vault:", err != nil)

	classic, _ := age.GenerateX25519Identity()
	pqVault, _ := age.GenerateHybridIdentity()
	segment.Reset()
	w, _ = age.Encrypt(&segment, pqVault.Recipient())
	w.Close()
	fmt.Println(rewrap.Rewrap(io.Discard, &segment, pqVault, classic.Recipient()))
	// Output:
	// grantee reads "moof+mdat"
	// owner or vault: true
	// rewrap: refusing to re-wrap a post-quantum file for a classic (X25519) recipient
}
