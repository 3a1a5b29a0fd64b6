package austream_test

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/doorward/doorward/capture/austream"
)

// A camera process's stdout arrives in arbitrary pieces; the Splitter hands
// out each access unit once the next one begins, and the last at Flush.
func ExampleSplitter() {
	data, err := os.ReadFile("../testdata/tiny-noaud.h264")
	if err != nil {
		fmt.Println(err)
		return
	}
	r := io.LimitReader(bytes.NewReader(data), int64(len(data))) // stands in for a pipe
	s := austream.New(austream.DefaultMaxAU)
	for {
		_, err := s.Fill(r)
		if err == io.EOF {
			s.Flush()
		} else if err != nil {
			fmt.Println(err)
			return
		}
		for au, ok := s.Next(); ok; au, ok = s.Next() {
			fmt.Println("key:", au.Key) // copy au.Data to keep it
		}
		if err == io.EOF {
			return
		}
	}
	// Output:
	// key: true
	// key: false
	// key: true
	// key: false
}
