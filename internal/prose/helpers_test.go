package prose

import (
	"fmt"
	"strings"
)

// The tests compare documents as short lines, one per fact, so that an
// expectation reads like the document it describes.

func sectionLines(d *Doc) []string {
	out := []string{}
	for _, s := range d.Sections {
		out = append(out, fmt.Sprintf("%s|%d|%s|%d-%d", s.ID, s.Level, s.Heading, s.Start, s.End))
	}
	return out
}

func endpointLines(d *Doc) []string {
	out := []string{}
	for _, e := range d.Endpoints {
		s := fmt.Sprintf("%s %s @%s:%d %.2f", e.Method, e.Path, e.Section, e.Line, e.Confidence)
		if e.Host != "" {
			s += " host=" + e.Host
		}
		out = append(out, s)
	}
	return out
}

func mentionLines(d *Doc) []string {
	out := []string{}
	for _, l := range []struct {
		name string
		ms   []Mention
	}{{"auth", d.Auth}, {"paging", d.Paging}, {"errors", d.Errors}, {"rate", d.RateLimits}, {"server", d.Servers}} {
		for _, m := range l.ms {
			out = append(out, fmt.Sprintf("%s: %s %q [%s] @%s:%d %.2f", l.name, m.Kind, m.Detail, strings.Join(m.Names, ","), m.Section, m.Line, m.Confidence))
		}
	}
	return out
}
