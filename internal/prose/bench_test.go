package prose

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParse reads a few MB of the test documents back to back, one
// markdown and one HTML page.
func BenchmarkParse(b *testing.B) {
	for _, ext := range []string{".md", ".html"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "*"+ext))
		var one []byte
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			one = append(append(one, data...), '\n')
		}
		doc := bytes.Repeat(one, (4<<20)/len(one))
		b.Run(ext[1:], func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse("bench"+ext, doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
