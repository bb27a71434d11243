package sandbox

import (
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// BenchmarkCorpusPage serves 100-record pages of a large-schema list
// (PagerDuty incidents) and a deeply nested one (DigitalOcean apps).
func BenchmarkCorpusPage(b *testing.B) {
	for _, tc := range []struct{ doc, path string }{
		{"pagerduty/openapiv3.2024-01-31.json", "/incidents?limit=100"},
		{"digitalocean/2024-03-18/specification/DigitalOcean-public.v2.yaml", "/v2/apps?per_page=100"},
	} {
		b.Run(tc.path, func(b *testing.B) {
			s, err := apisurface.Load(b.Context(), corpusPathB(b, tc.doc), apisurface.Options{})
			if err != nil {
				b.Fatal(err)
			}
			sb, err := New(s, Options{Entities: 200})
			if err != nil {
				b.Fatal(err)
			}
			c := sb.Credentials()[0]
			h := sb.Handler()
			b.ResetTimer()
			var n int
			for b.Loop() {
				w := doB(h, testHost+tc.path, &c)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body.String())
				}
				n = w.Body.Len()
			}
			b.ReportMetric(float64(n), "bytes/page")
		})
	}
}
