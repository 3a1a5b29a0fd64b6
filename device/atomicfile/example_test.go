package atomicfile_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/doorward/doorward/device/atomicfile"
)

// Streaming a big file: nothing appears under the final name unless the
// whole copy succeeded.
func Example() {
	dir, _ := os.MkdirTemp("", "atomicfile-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "clip.mp4")

	f, err := atomicfile.Create(path, 0o600)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Abort() // a no-op once committed
	if _, err := io.Copy(f, strings.NewReader("video")); err != nil {
		fmt.Println(err)
		return
	}
	if err := f.Commit(); err != nil {
		fmt.Println(err)
		return
	}
	b, _ := os.ReadFile(path)
	fmt.Println(string(b))
	// Output: video
}
