package llm

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/agent"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{`{"a":1}`, `{"a":1}`, ""},
		{"  {\"a\":1}\n", `{"a":1}`, ""},
		{``, `{}`, ""},
		{`   `, `{}`, ""},
		{`{"a":`, "", "not valid JSON"},
		{`{'a': 1}`, "", "not valid JSON"},
		{`{"a":1} trailing`, "", "not valid JSON"},
		{`[1,2]`, "", "not an object"},
		{`"just a string"`, "", "not an object"},
		{`null`, "", "not an object"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseArgs(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseArgs(%q) = %s, %v; want %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("parseArgs(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestToolInput(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`{"a":1}`, `{"a":1}`},
		{`"{\"a\":1}"`, `{"a":1}`},
		{`"{\"a\":"`, `{"a":`},
		{``, ``},
	}
	for _, tc := range tests {
		if got := toolInput(json.RawMessage(tc.raw)); got != tc.want {
			t.Errorf("toolInput(%s) = %s, want %s", tc.raw, got, tc.want)
		}
	}
}

func TestConversationBound(t *testing.T) {
	id := func(s string) string { return s }
	long := strings.Repeat("x", 3000)
	tests := []struct {
		name     string
		budget   int
		exchange int  // how many (assistant, results) pairs
		report   int  // index of the exchange whose result is a validate report (-1: none)
		wantDrop bool // pass 2 had to drop pairs
	}{
		{"fits", 1_000_000, 6, 2, false},
		{"elision suffices", 9000, 6, 2, false},
		{"drops pairs", 4000, 12, 3, true},
		{"no report", 4000, 12, -1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newConversation("the task", tc.budget, id)
			var reportText string
			for i := range tc.exchange {
				name := agent.ToolWriteSpec
				args := `{"yaml":"` + strings.Repeat("y", 1000) + `"}`
				text := long
				if i == tc.report {
					name, args = agent.ToolValidate, `{}`
					text = fmt.Sprintf(`{"passed":false,"n":%d,"evidence":"%s"}`, i, strings.Repeat("e", 900))
					reportText = text
				}
				c.addAssistant(strings.Repeat("w", 500), []toolCall{{id: fmt.Sprint(i), name: name, args: args, ok: true}})
				c.addUser([]toolResult{{callID: fmt.Sprint(i), name: name, text: text}}, "")
				lastTurns := fmt.Sprint(c.turns[len(c.turns)-2:])
				c.bound()
				if got := fmt.Sprint(c.turns[len(c.turns)-2:]); got != lastTurns {
					t.Fatalf("exchange %d: the latest exchange was changed", i)
				}
				if c.turns[0].text != "the task" {
					t.Fatal("the task was changed")
				}
			}
			// Over budget only when nothing but the protected turns is left:
			// the task, the latest report's exchange and the latest exchange.
			if c.size() > tc.budget && len(c.turns) > 5 {
				t.Errorf("size %d > budget %d with %d turns left", c.size(), tc.budget, len(c.turns))
			}
			if (c.dropped > 0) != tc.wantDrop {
				t.Errorf("dropped = %d, want drops: %t", c.dropped, tc.wantDrop)
			}
			if tc.report >= 0 {
				found := false
				for _, tr := range c.turns {
					for _, r := range tr.results {
						found = found || r.text == reportText
					}
				}
				if !found {
					t.Error("the latest report was elided")
				}
			}
			// Strict alternation, starting with the task.
			for i, tr := range c.turns {
				if tr.assistant != (i%2 == 1) {
					t.Fatalf("turn %d breaks alternation", i)
				}
				if i%2 == 0 && i > 0 {
					prev := c.turns[i-1]
					if len(prev.calls) != len(tr.results) || prev.calls[0].id != tr.results[0].callID {
						t.Fatalf("turn %d does not answer turn %d", i, i-1)
					}
				}
				for _, k := range tr.calls {
					if !json.Valid([]byte(k.replayArgs())) {
						t.Fatalf("turn %d: elided args are not JSON: %s", i, k.args)
					}
				}
			}
			if c.dropped > 0 && !strings.Contains(c.taskText(), fmt.Sprintf("%d earlier exchanges", c.dropped)) {
				t.Errorf("task text = %q", c.taskText())
			}
		})
	}
}

func TestResultClipped(t *testing.T) {
	c := newConversation("task", 8000, func(s string) string { return s })
	c.addAssistant("", []toolCall{{id: "1", name: agent.ToolSearchDocs, args: "{}", ok: true}})
	c.addUser([]toolResult{{callID: "1", name: agent.ToolSearchDocs, text: strings.Repeat("é", 10000)}}, "")
	got := c.turns[2].results[0].text
	if len(got) > 2000+100 || !strings.Contains(got, "more chars cut") {
		t.Errorf("result not clipped: %d bytes", len(got))
	}
	if !json.Valid([]byte(`"`+strings.Split(got, "\n")[0]+`"`)) || !strings.HasPrefix(got, "é") {
		t.Error("clip split a rune")
	}
}
