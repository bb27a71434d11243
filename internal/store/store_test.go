package store

import "testing"

func TestRunStatus(t *testing.T) {
	res := func(outcomes ...Outcome) []StreamResult {
		var out []StreamResult
		for _, o := range outcomes {
			out = append(out, StreamResult{Stream: string(o), Outcome: o})
		}
		return out
	}
	cases := []struct {
		streams []StreamResult
		want    string
	}{
		{nil, RunOK},
		{res(Complete, Complete), RunOK},
		{res(Complete, Partial), RunPartial},
		{res(Complete, Denied), RunPartial},
		{res(Partial, Failed), RunPartial},
		{res(Failed, Denied), RunFailed},
		{res(Denied), RunFailed},
	}
	for _, c := range cases {
		if got := RunStatus(c.streams); got != c.want {
			t.Errorf("RunStatus(%v) = %q, want %q", c.streams, got, c.want)
		}
	}
}

func TestOutcomeValid(t *testing.T) {
	for _, o := range []Outcome{Complete, Partial, Failed, Denied} {
		if !o.Valid() {
			t.Errorf("%q not valid", o)
		}
	}
	for _, o := range []Outcome{"", "done", "COMPLETE"} {
		if o.Valid() {
			t.Errorf("%q valid", o)
		}
	}
}
