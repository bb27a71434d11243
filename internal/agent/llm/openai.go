package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// openaiBackend talks to an OpenAI-compatible /chat/completions endpoint.
// It builds the chat completion service directly rather than through
// openai.NewClient, so nothing is read from OPENAI_* environment variables
// (organisation, project, custom headers) behind the Config's back.
type openaiBackend struct {
	cfg Config
	svc openai.ChatCompletionService
	// completionTokens: api.openai.com wants max_completion_tokens (its
	// reasoning models refuse max_tokens); other servers know max_tokens.
	completionTokens bool
}

func newOpenAI(cfg Config, hc *http.Client) *openaiBackend {
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.baseURL()),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(maxRetries),
		option.WithRequestTimeout(cfg.Timeout),
	}
	if !cfg.APIKey.IsZero() {
		opts = append(opts, option.WithAPIKey(cfg.APIKey.Reveal()))
	}
	u, _ := url.Parse(cfg.baseURL())
	return &openaiBackend{
		cfg:              cfg,
		svc:              openai.NewChatCompletionService(opts...),
		completionTokens: u != nil && strings.EqualFold(u.Hostname(), "api.openai.com"),
	}
}

func (o *openaiBackend) params(req request) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{
		Model:    shared.ChatModel(o.cfg.Model),
		Messages: o.messages(req),
	}
	if o.completionTokens {
		p.MaxCompletionTokens = openai.Int(int64(o.cfg.MaxTokensPerReply))
	} else {
		p.MaxTokens = openai.Int(int64(o.cfg.MaxTokensPerReply))
	}
	if o.cfg.Temperature != nil {
		p.Temperature = openai.Float(*o.cfg.Temperature)
	}
	for _, ts := range req.tools {
		p.Tools = append(p.Tools, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        ts.Name,
			Description: openai.String(ts.Description),
			Parameters:  shared.FunctionParameters(schemaOrEmpty(ts.Parameters)),
		}))
	}
	return p
}

func (o *openaiBackend) messages(req request) []openai.ChatCompletionMessageParamUnion {
	c := req.conv
	msgs := []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage(req.system),
		openai.UserMessage(c.taskText()),
	}
	for _, t := range c.turns[1:] {
		if t.assistant {
			var a openai.ChatCompletionAssistantMessageParam
			if t.text != "" || len(t.calls) == 0 {
				text := t.text
				if text == "" {
					text = "(no reply)"
				}
				a.Content.OfString = openai.String(text)
			}
			for _, k := range t.calls {
				a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
						ID: k.id,
						Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{
							Name:      k.name,
							Arguments: k.replayArgs(),
						},
					},
				})
			}
			msgs = append(msgs, openai.ChatCompletionMessageParamUnion{OfAssistant: &a})
			continue
		}
		for _, r := range t.results {
			text := r.text
			if r.isError && !strings.HasPrefix(text, "ERROR") {
				// The chat completions API has no error flag on a tool message.
				text = "ERROR: " + text
			}
			msgs = append(msgs, openai.ToolMessage(text, r.callID))
		}
		if t.text != "" {
			msgs = append(msgs, openai.UserMessage(t.text))
		}
	}
	return msgs
}

func (o *openaiBackend) complete(ctx context.Context, req request) (reply, error) {
	res, err := o.svc.New(ctx, o.params(req))
	if err != nil {
		return reply{}, err
	}
	var r reply
	r.in, r.out = int(res.Usage.PromptTokens), int(res.Usage.CompletionTokens)
	if len(res.Choices) == 0 {
		return r, errors.New("the reply has no choices")
	}
	ch := res.Choices[0]
	r.text = ch.Message.Content
	r.refusal = ch.Message.Refusal
	r.truncated = ch.FinishReason == "length"
	for _, tc := range ch.Message.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			// A custom (free-form) tool call: none is offered; let the
			// session answer it as an unknown tool.
			r.calls = append(r.calls, toolCall{id: tc.ID, name: tc.Custom.Name, args: "{}"})
			continue
		}
		r.calls = append(r.calls, toolCall{id: tc.ID, name: tc.Function.Name, args: tc.Function.Arguments})
	}
	if len(r.calls) == 0 && ch.Message.FunctionCall.Name != "" {
		// The deprecated single function_call some older servers still send.
		r.calls = append(r.calls, toolCall{name: ch.Message.FunctionCall.Name, args: ch.Message.FunctionCall.Arguments})
	}
	return r, nil
}

// schemaOrEmpty makes sure a tool has an object schema.
func schemaOrEmpty(s map[string]any) map[string]any {
	if len(s) == 0 {
		return map[string]any{"type": "object", "properties": map[string]any{}}
	}
	return s
}

// describeError summarises an SDK or transport error without request
// details, with a hint for the usual misconfigurations.
func describeError(err error) string {
	status, msg := 0, ""
	var oe *openai.Error
	var ae *anthropicError
	switch {
	case errors.As(err, &oe):
		status, msg = oe.StatusCode, oe.Message
	case errors.As(err, &ae):
		status, msg = (*ae).StatusCode, (*ae).Message
	default:
		return err.Error()
	}
	s := fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	if msg != "" {
		s += ": " + excerpt(msg, 300)
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		s += " (check " + EnvAPIKey + ")"
	case http.StatusNotFound:
		s += " (check " + EnvBaseURL + " — OpenAI-compatible servers need the /v1 prefix — and " + EnvModel + ")"
	}
	return s
}
