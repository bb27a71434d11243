package llm

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spindlehq/spindle/internal/agent"
)

// The conversation is kept in a provider-neutral form and rendered into
// each SDK's request types on every turn. It alternates strictly: a user
// turn (the task, then tool results and nudges), an assistant turn, a user
// turn, … Every assistant tool call is answered in the next user turn, so
// dropping an (assistant, user) pair never orphans a call.

type toolCall struct {
	id   string
	name string
	args string // as the model wrote it (or an elision stub)
	ok   bool   // args parsed as a JSON object
}

type toolResult struct {
	callID  string
	name    string
	text    string
	isError bool
}

type turn struct {
	assistant bool
	text      string       // user text (task, nudge) or the assistant's words
	calls     []toolCall   // assistant
	results   []toolResult // user: answers to the previous assistant turn's calls
}

func (t *turn) size() int {
	n := len(t.text)
	for _, c := range t.calls {
		n += len(c.args) + len(c.name)
	}
	for _, r := range t.results {
		n += len(r.text)
	}
	return n
}

// conversation is the bounded message history.
type conversation struct {
	turns   []turn // turns[0] is the task
	budget  int    // characters, all turns together
	dropped int    // (assistant, user) pairs removed to stay in budget
	scrub   func(string) string
}

// Elision thresholds: texts shorter than keepShort are never elided.
const keepShort = 240

func newConversation(task string, budget int, scrub func(string) string) *conversation {
	return &conversation{turns: []turn{{text: scrub(task)}}, budget: budget, scrub: scrub}
}

func (c *conversation) size() int {
	n := 0
	for i := range c.turns {
		n += c.turns[i].size()
	}
	return n
}

// resultCap bounds one tool result as it enters the conversation.
func (c *conversation) resultCap() int { return max(c.budget/4, 2000) }

func (c *conversation) addAssistant(text string, calls []toolCall) {
	c.turns = append(c.turns, turn{assistant: true, text: c.scrub(text), calls: calls})
}

// addUser appends tool results and an optional text (a nudge).
func (c *conversation) addUser(results []toolResult, text string) {
	for i := range results {
		results[i].text = clip(c.scrub(results[i].text), c.resultCap(),
			"call the tool with narrower arguments to see the rest")
	}
	c.turns = append(c.turns, turn{results: results, text: text})
}

// isReport says whether a tool's result is validation feedback.
func isReport(name string) bool { return name == agent.ToolValidate || name == agent.ToolReadReport }

// protected returns the index of the user turn holding the latest
// validation report, or -1.
func (c *conversation) protected() int {
	for i := len(c.turns) - 1; i > 0; i-- {
		for _, r := range c.turns[i].results {
			if isReport(r.name) {
				return i
			}
		}
	}
	return -1
}

// bound elides and drops old material until the conversation fits its
// budget. It never touches the task (turn 0), the last two turns (the
// model's latest reply and its results) or the latest validation report.
// It reports how many characters it removed.
func (c *conversation) bound() int {
	before := c.size()
	if before <= c.budget {
		return 0
	}
	last := len(c.turns) - 2 // turns[last:] are kept whole
	prot := c.protected()
	// Pass 1: oldest first, replace long results, spec bodies and words
	// with short stubs.
	for i := 1; i < last && c.size() > c.budget; i++ {
		t := &c.turns[i]
		if len(t.text) > keepShort && t.assistant {
			t.text = fmt.Sprintf("[earlier reasoning elided: %d chars]", len(t.text))
		}
		for j := range t.calls {
			if k := &t.calls[j]; len(k.args) > keepShort {
				k.args = elidedArgs(k.name, len(k.args))
			}
		}
		for j := range t.results {
			r := &t.results[j]
			if i == prot && isReport(r.name) {
				continue
			}
			if len(r.text) > keepShort {
				r.text = fmt.Sprintf("[elided: %d chars of %s output; call it again if you need it]", len(r.text), r.name)
			}
		}
	}
	// Pass 2: drop the oldest (assistant, user) pairs, except the one that
	// answers with the latest report.
	for i := 1; i+1 < len(c.turns)-2 && c.size() > c.budget; {
		if c.turns[i].assistant && i+1 != prot {
			c.turns = append(c.turns[:i], c.turns[i+2:]...)
			c.dropped++
			if prot > i {
				prot -= 2
			}
			continue
		}
		i += 2
	}
	return before - c.size()
}

// elidedArgs stands in for a long argument object the model sent earlier.
// It stays a JSON object so that servers replaying history accept it.
func elidedArgs(tool string, n int) string {
	hint := "call read_spec to see the current spec"
	if tool != agent.ToolWriteSpec && tool != agent.ToolPatchSpec {
		hint = "arguments elided"
	}
	b, _ := json.Marshal(map[string]string{"_elided": fmt.Sprintf("%d chars; %s", n, hint)})
	return string(b)
}

// taskText is the first user message, with a marker when pairs were dropped.
func (c *conversation) taskText() string {
	if c.dropped == 0 {
		return c.turns[0].text
	}
	return c.turns[0].text + fmt.Sprintf("\n\n[%d earlier exchanges were removed to keep this conversation bounded; "+
		"call read_spec or read_report to see the current state.]", c.dropped)
}

// replayArgs is what an earlier call's arguments look like when sent back:
// malformed ones are replaced by an empty object, as some servers refuse
// a history whose arguments are not JSON.
func (k toolCall) replayArgs() string {
	if !k.ok {
		return "{}"
	}
	if strings.TrimSpace(k.args) == "" {
		return "{}"
	}
	return k.args
}

// clip shortens s to at most n bytes (on a rune boundary) with a marker.
func clip(s string, n int, hint string) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + fmt.Sprintf("\n[… %d more chars cut; %s]", len(s)-cut, hint)
}
