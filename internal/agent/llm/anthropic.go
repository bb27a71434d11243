package llm

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

type anthropicError = anthropic.Error

// anthropicBackend talks to the Anthropic Messages API. The client is built
// WithoutEnvironmentDefaults: no ANTHROPIC_* variable, profile file or
// federation source is consulted behind the Config's back.
type anthropicBackend struct {
	cfg    Config
	client anthropic.Client
}

func newAnthropic(cfg Config, hc *http.Client) *anthropicBackend {
	opts := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(cfg.baseURL()),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(maxRetries),
		option.WithRequestTimeout(cfg.Timeout),
	}
	if !cfg.APIKey.IsZero() {
		opts = append(opts, option.WithAPIKey(cfg.APIKey.Reveal()))
	}
	return &anthropicBackend{cfg: cfg, client: anthropic.NewClient(opts...)}
}

func (a *anthropicBackend) params(req request) anthropic.MessageNewParams {
	p := anthropic.MessageNewParams{
		Model:     anthropic.Model(a.cfg.Model),
		MaxTokens: int64(a.cfg.MaxTokensPerReply),
		System:    []anthropic.TextBlockParam{{Text: req.system}},
		Messages:  a.messages(req),
	}
	for _, ts := range req.tools {
		schema := schemaOrEmpty(ts.Parameters)
		in := anthropic.ToolInputSchemaParam{ExtraFields: map[string]any{}}
		for k, v := range schema {
			switch k {
			case "type":
			case "properties":
				in.Properties = v
			case "required":
				in.Required = stringList(v)
			default:
				in.ExtraFields[k] = v
			}
		}
		tool := anthropic.ToolUnionParamOfTool(in, ts.Name)
		tool.OfTool.Description = anthropic.String(ts.Description)
		p.Tools = append(p.Tools, tool)
	}
	return p
}

func stringList(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (a *anthropicBackend) messages(req request) []anthropic.MessageParam {
	c := req.conv
	msgs := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(c.taskText()))}
	for _, t := range c.turns[1:] {
		var blocks []anthropic.ContentBlockParamUnion
		if t.assistant {
			// The API refuses empty or whitespace-only text blocks.
			if strings.TrimSpace(t.text) != "" {
				blocks = append(blocks, anthropic.NewTextBlock(t.text))
			}
			for _, k := range t.calls {
				blocks = append(blocks, anthropic.NewToolUseBlock(k.id, json.RawMessage(k.replayArgs()), k.name))
			}
			if len(blocks) == 0 {
				blocks = append(blocks, anthropic.NewTextBlock("(no reply)"))
			}
			msgs = append(msgs, anthropic.NewAssistantMessage(blocks...))
			continue
		}
		for _, r := range t.results {
			blocks = append(blocks, anthropic.NewToolResultBlock(r.callID, r.text, r.isError))
		}
		if strings.TrimSpace(t.text) != "" {
			blocks = append(blocks, anthropic.NewTextBlock(t.text))
		}
		msgs = append(msgs, anthropic.NewUserMessage(blocks...))
	}
	return msgs
}

func (a *anthropicBackend) complete(ctx context.Context, req request) (reply, error) {
	m, err := a.client.Messages.New(ctx, a.params(req))
	if err != nil {
		return reply{}, err
	}
	u := m.Usage
	r := reply{
		in:        int(u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens),
		out:       int(u.OutputTokens),
		truncated: m.StopReason == anthropic.StopReasonMaxTokens,
	}
	var text []string
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text = append(text, b.Text)
		case "tool_use":
			r.calls = append(r.calls, toolCall{id: b.ID, name: b.Name, args: toolInput(b.Input)})
		}
	}
	r.text = strings.Join(text, "\n")
	if m.StopReason == anthropic.StopReasonRefusal {
		r.refusal = r.text
		if r.refusal == "" {
			r.refusal = "(refused without a message)"
		}
	}
	return r, nil
}

// toolInput is a tool_use input as argument text. The API sends an object;
// an OpenAI-style compatible server may send the arguments as a JSON string
// instead, which is unwrapped here and then parsed like any arguments.
func toolInput(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		var inner string
		if json.Unmarshal(raw, &inner) == nil {
			return inner
		}
	}
	return s
}
