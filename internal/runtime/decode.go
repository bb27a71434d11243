package runtime

import (
	"fmt"
	"mime"
	"strings"
)

// Decoder turns a response body into the generic data model the runtime
// and CEL work on: map[string]any, []any, string, int64, float64, bool, nil.
// JSON is built in; XML and others plug in through Options.Decoders.
// Decode must not retain body: the runtime reuses page buffers.
type Decoder interface {
	Decode(body []byte) (any, error)
}

// DecoderFunc adapts a function to Decoder.
type DecoderFunc func([]byte) (any, error)

// Decode calls f.
func (f DecoderFunc) Decode(b []byte) (any, error) { return f(b) }

// JSONDecoder decodes JSON, keeping integers exact: IDs above 2^53 would be
// corrupted by float64, and "1e+06" is no way to print an ID.
var JSONDecoder Decoder = DecoderFunc(decodeJSON)

func decodeJSON(b []byte) (any, error) {
	v, err := parseJSON(b)
	if err != nil {
		return nil, fmt.Errorf("response is not valid JSON: %w", err)
	}
	return v, nil
}

// decoderFor picks a decoder by media type; JSON when the type is missing
// or unknown (many APIs send text/plain or nothing at all).
func decoderFor(contentType string, extra map[string]Decoder) Decoder {
	mt, _, _ := mime.ParseMediaType(contentType)
	if d, ok := extra[mt]; ok {
		return d
	}
	if strings.HasSuffix(mt, "+xml") || mt == "application/xml" || mt == "text/xml" {
		if d, ok := extra["application/xml"]; ok {
			return d
		}
		return DecoderFunc(func([]byte) (any, error) {
			return nil, fmt.Errorf("response is %s and this build has no decoder for it; register one in runtime.Options.Decoders", mt)
		})
	}
	return JSONDecoder
}
