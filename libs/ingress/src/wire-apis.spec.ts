import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { toIngressError } from './ingress.error';
import { parseInboundChat, WIRE_APIS } from './wire-apis';

// What an OpenAI client sees for a bad chat body: the status and OpenAI's error fields
// (`code`, `param`, `message`), or, for a body that is valid OpenAI but not translatable,
// which field keeps it on an OpenAI upstream (passthrough). Recorded from the validation
// ingress had before OpenAI bodies were validated in one pass (zod schema, then decoder);
// since then only the wording of zod's "Invalid input" (content, stop, tool_choice) and of
// "a assistant message" has changed.

type Answer =
  | 'ok'
  | { passthroughOnly: { code: string; param: string | null } }
  | { status: number; code: string; param: string | null; message: string };

const hi = { role: 'user', content: 'hi' };
const chat = (extra: Record<string, unknown>): Record<string, unknown> => ({ model: 'gpt-4o', messages: [hi], ...extra });

const OPENAI_BODIES: [string, unknown, Answer][] = [
  ['body is an array', [], { status: 400, code: 'invalid_request', param: null, message: "the request body must be a JSON object" }],
  ['model missing', { messages: [hi] }, { status: 400, code: 'invalid_type', param: "model", message: "model: is required" }],
  ['model not a string', chat({ model: 5 }), { status: 400, code: 'invalid_type', param: "model", message: "model: Expected string, received number" }],
  ['model empty', chat({ model: '' }), { status: 400, code: 'invalid_value', param: "model", message: "model: String must contain at least 1 character(s)" }],
  ['model over 256 characters', chat({ model: 'm'.repeat(257) }), { status: 400, code: 'invalid_value', param: "model", message: "model: String must contain at most 256 character(s)" }],
  ['messages missing', { model: 'gpt-4o' }, { status: 400, code: 'invalid_type', param: "messages", message: "messages: is required" }],
  ['messages a string', chat({ messages: 'hi' }), { status: 400, code: 'invalid_type', param: "messages", message: "messages: Expected array, received string" }],
  ['messages empty', chat({ messages: [] }), { status: 400, code: 'invalid_value', param: "messages", message: "messages: must contain at least one message" }],
  ['message null', chat({ messages: [null] }), { status: 400, code: 'invalid_type', param: "messages[0]", message: "messages[0]: Expected object, received null" }],
  ['message without role', chat({ messages: [{ content: 'hi' }] }), { status: 400, code: 'invalid_type', param: "messages[0].role", message: "messages[0].role: is required" }],
  ['role outside the enum', chat({ messages: [{ role: 'wizard', content: 'hi' }] }), { status: 400, code: 'invalid_value', param: "messages[0].role", message: "messages[0].role: Invalid enum value. Expected 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function', received 'wizard'" }],
  ['role function (valid OpenAI, never translated)', chat({ messages: [{ role: 'function', name: 'f', content: 'x' }] }), { passthroughOnly: { code: 'unsupported_parameter', param: "messages[0].name" } }],
  ['user content empty string', chat({ messages: [{ role: 'user', content: '' }] }), { status: 400, code: 'invalid_value', param: "messages[0].content", message: "messages[0].content: a user message needs content" }],
  ['user content empty array', chat({ messages: [{ role: 'user', content: [] }] }), { status: 400, code: 'invalid_value', param: "messages[0].content", message: "messages[0].content: a user message needs content" }],
  ['user content missing', chat({ messages: [{ role: 'user' }] }), { status: 400, code: 'invalid_value', param: "messages[0].content", message: "messages[0].content: a user message needs content" }],
  ['system content null', chat({ messages: [{ role: 'system', content: null }, hi] }), { status: 400, code: 'invalid_value', param: "messages[0].content", message: "messages[0].content: a system message needs content" }],
  ['user content a number', chat({ messages: [{ role: 'user', content: 5 }] }), { status: 400, code: 'invalid_value', param: "messages[0].content", message: "messages[0].content: must be a string, null or an array of content parts with a type" }],
  ['content part with empty type', chat({ messages: [{ role: 'user', content: [{ type: '' }] }] }), { status: 400, code: 'invalid_value', param: "messages[0].content[0].type", message: "messages[0].content[0].type: String must contain at least 1 character(s)" }],
  ['content part without type', chat({ messages: [{ role: 'user', content: [{ text: 'x' }] }] }), { status: 400, code: 'invalid_value', param: "messages[0].content", message: "messages[0].content: must be a string, null or an array of content parts with a type" }],
  ['content part not an object', chat({ messages: [{ role: 'user', content: ['x'] }] }), { status: 400, code: 'invalid_value', param: "messages[0].content", message: "messages[0].content: must be a string, null or an array of content parts with a type" }],
  ['text part without text', chat({ messages: [{ role: 'user', content: [{ type: 'text' }] }] }), { status: 400, code: 'invalid_parameter', param: "messages[0].content[0].text", message: "'messages[0].content[0].text' must be a string" }],
  ['image part without url', chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }), { status: 400, code: 'invalid_parameter', param: "messages[0].content[0].image_url.url", message: "'messages[0].content[0].image_url.url' must be a string" }],
  ['audio part (valid OpenAI, not translatable)', chat({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }] }] }), { passthroughOnly: { code: 'unsupported_content', param: "messages[0].content[0].type" } }],
  ['image in a system message', chat({ messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }, hi] }), { passthroughOnly: { code: 'unsupported_content', param: "messages[0].content[0].type" } }],
  ['assistant without content or tool calls', chat({ messages: [hi, { role: 'assistant', content: '' }] }), { status: 400, code: 'invalid_value', param: "messages[1].content", message: "messages[1].content: an assistant message needs content" }],
  ['assistant tool call without id', chat({ messages: [hi, { role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{}' } }] }] }), { status: 400, code: 'invalid_type', param: "messages[1].tool_calls[0].id", message: "messages[1].tool_calls[0].id: is required" }],
  ['assistant tool call with empty id', chat({ messages: [hi, { role: 'assistant', tool_calls: [{ id: '', type: 'function', function: { name: 'f', arguments: '{}' } }] }] }), { status: 400, code: 'invalid_value', param: "messages[1].tool_calls[0].id", message: "messages[1].tool_calls[0].id: String must contain at least 1 character(s)" }],
  ['assistant tool call without type', chat({ messages: [hi, { role: 'assistant', tool_calls: [{ id: 'c1', function: { name: 'f', arguments: '{}' } }] }] }), { status: 400, code: 'invalid_value', param: "messages[1].tool_calls[0].type", message: "messages[1].tool_calls[0].type: Invalid literal value, expected \"function\"" }],
  ['assistant tool call of type custom', chat({ messages: [hi, { role: 'assistant', tool_calls: [{ id: 'c1', type: 'custom', custom: { name: 'f', input: '' } }] }] }), { status: 400, code: 'invalid_value', param: "messages[1].tool_calls[0].type", message: "messages[1].tool_calls[0].type: Invalid literal value, expected \"function\"" }],
  ['assistant tool call arguments as an object', chat({ messages: [hi, { role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: { a: 1 } } }] }] }), { status: 400, code: 'invalid_type', param: "messages[1].tool_calls[0].function.arguments", message: "messages[1].tool_calls[0].function.arguments: Expected string, received object" }],
  ['assistant tool call with empty name', chat({ messages: [hi, { role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: '', arguments: '{}' } }] }] }), { status: 400, code: 'invalid_value', param: "messages[1].tool_calls[0].function.name", message: "messages[1].tool_calls[0].function.name: String must contain at least 1 character(s)" }],
  ['assistant tool_calls not an array', chat({ messages: [hi, { role: 'assistant', content: 'x', tool_calls: {} }] }), { status: 400, code: 'invalid_type', param: "messages[1].tool_calls", message: "messages[1].tool_calls: Expected array, received object" }],
  ['assistant refusal (valid OpenAI, not translatable)', chat({ messages: [hi, { role: 'assistant', content: 'x', refusal: 'no' }, hi] }), { passthroughOnly: { code: 'unsupported_parameter', param: "messages[1].refusal" } }],
  ['tool message without tool_call_id', chat({ messages: [hi, { role: 'tool', content: 'done' }] }), { status: 400, code: 'invalid_value', param: "messages[1].tool_call_id", message: "messages[1].tool_call_id: a tool message needs tool_call_id" }],
  ['tool message with numeric tool_call_id', chat({ messages: [hi, { role: 'tool', tool_call_id: 5, content: 'done' }] }), { status: 400, code: 'invalid_type', param: "messages[1].tool_call_id", message: "messages[1].tool_call_id: Expected string, received number" }],
  ['participant name not a string', chat({ messages: [{ role: 'user', name: 5, content: 'hi' }] }), { status: 400, code: 'invalid_type', param: "messages[0].name", message: "messages[0].name: Expected string, received number" }],
  ['participant name (valid OpenAI, not translatable)', chat({ messages: [{ role: 'user', name: 'bob', content: 'hi' }] }), { passthroughOnly: { code: 'unsupported_parameter', param: "messages[0].name" } }],
  ['participant name and empty content', chat({ messages: [{ role: 'user', name: 'bob', content: '' }] }), { status: 400, code: 'invalid_value', param: "messages[0].content", message: "messages[0].content: a user message needs content" }],
  ['participant name, then an empty message', chat({ messages: [{ role: 'user', name: 'bob', content: 'hi' }, { role: 'user', content: '' }] }), { status: 400, code: 'invalid_value', param: "messages[1].content", message: "messages[1].content: a user message needs content" }],
  ['stream not a boolean', chat({ stream: 'yes' }), { status: 400, code: 'invalid_type', param: "stream", message: "stream: Expected boolean, received string" }],
  ['stream_options not an object', chat({ stream: true, stream_options: 'x' }), { status: 400, code: 'invalid_type', param: "stream_options", message: "stream_options: Expected object, received string" }],
  ['stream_options.include_usage null', chat({ stream: true, stream_options: { include_usage: null } }), { status: 400, code: 'invalid_type', param: "stream_options.include_usage", message: "stream_options.include_usage: Expected boolean, received null" }],
  ['max_tokens zero', chat({ max_tokens: 0 }), { status: 400, code: 'invalid_value', param: "max_tokens", message: "max_tokens: Number must be greater than 0" }],
  ['max_tokens not an integer', chat({ max_tokens: 1.5 }), { status: 400, code: 'invalid_type', param: "max_tokens", message: "max_tokens: Expected integer, received float" }],
  ['max_tokens a string', chat({ max_tokens: '10' }), { status: 400, code: 'invalid_type', param: "max_tokens", message: "max_tokens: Expected number, received string" }],
  ['max_completion_tokens negative', chat({ max_completion_tokens: -1 }), { status: 400, code: 'invalid_value', param: "max_completion_tokens", message: "max_completion_tokens: Number must be greater than 0" }],
  ['temperature above 2', chat({ temperature: 3 }), { status: 400, code: 'invalid_value', param: "temperature", message: "temperature: Number must be less than or equal to 2" }],
  ['temperature a string', chat({ temperature: 'hot' }), { status: 400, code: 'invalid_type', param: "temperature", message: "temperature: Expected number, received string" }],
  ['top_p above 1', chat({ top_p: 1.5 }), { status: 400, code: 'invalid_value', param: "top_p", message: "top_p: Number must be less than or equal to 1" }],
  ['n = 2', chat({ n: 2 }), { status: 400, code: 'invalid_value', param: "n", message: "n: ASC serves one choice per request" }],
  ['n = 0', chat({ n: 0 }), { status: 400, code: 'invalid_value', param: "n", message: "n: Number must be greater than or equal to 1" }],
  ['n not an integer', chat({ n: 1.5 }), { status: 400, code: 'invalid_type', param: "n", message: "n: Expected integer, received float" }],
  ['stop with 5 entries', chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), { status: 400, code: 'invalid_value', param: "stop", message: "stop: Array must contain at most 4 element(s)" }],
  ['stop with a number inside', chat({ stop: ['a', 1] }), { status: 400, code: 'invalid_value', param: "stop", message: "stop: must be a string or an array of at most 4 strings" }],
  ['stop a number', chat({ stop: 5 }), { status: 400, code: 'invalid_value', param: "stop", message: "stop: must be a string or an array of at most 4 strings" }],
  ['seed not an integer', chat({ seed: 1.5 }), { status: 400, code: 'invalid_type', param: "seed", message: "seed: Expected integer, received float" }],
  ['user over 256 characters', chat({ user: 'u'.repeat(257) }), { status: 400, code: 'invalid_value', param: "user", message: "user: String must contain at most 256 character(s)" }],
  ['user null', chat({ user: null }), { status: 400, code: 'invalid_type', param: "user", message: "user: Expected string, received null" }],
  ['tools not an array', chat({ tools: 'x' }), { status: 400, code: 'invalid_type', param: "tools", message: "tools: Expected array, received string" }],
  ['tools null', chat({ tools: null }), { status: 400, code: 'invalid_type', param: "tools", message: "tools: Expected array, received null" }],
  ['more than 128 tools', chat({ tools: Array.from({ length: 129 }, (_, i) => ({ type: 'function', function: { name: 'f' + i } })) }), { status: 400, code: 'invalid_value', param: "tools", message: "tools: Array must contain at most 128 element(s)" }],
  ['tool name with a space', chat({ tools: [{ type: 'function', function: { name: 'bad name!' } }] }), { status: 400, code: 'invalid_value', param: "tools[0].function.name", message: "tools[0].function.name: must be 1-64 characters of a-z, A-Z, 0-9, _ or -" }],
  ['tool name of 65 characters', chat({ tools: [{ type: 'function', function: { name: 'f'.repeat(65) } }] }), { status: 400, code: 'invalid_value', param: "tools[0].function.name", message: "tools[0].function.name: must be 1-64 characters of a-z, A-Z, 0-9, _ or -" }],
  ['tool without a name', chat({ tools: [{ type: 'function', function: { parameters: {} } }] }), { status: 400, code: 'invalid_type', param: "tools[0].function.name", message: "tools[0].function.name: is required" }],
  ['tool of type custom', chat({ tools: [{ type: 'custom', custom: { name: 'f' } }] }), { status: 400, code: 'invalid_value', param: "tools[0].type", message: "tools[0].type: Invalid literal value, expected \"function\"" }],
  ['tool without function', chat({ tools: [{ type: 'function' }] }), { status: 400, code: 'invalid_type', param: "tools[0].function", message: "tools[0].function: is required" }],
  ['tool parameters an array', chat({ tools: [{ type: 'function', function: { name: 'f', parameters: [] } }] }), { status: 400, code: 'invalid_type', param: "tools[0].function.parameters", message: "tools[0].function.parameters: Expected object, received array" }],
  ['tool parameters null', chat({ tools: [{ type: 'function', function: { name: 'f', parameters: null } }] }), { status: 400, code: 'invalid_type', param: "tools[0].function.parameters", message: "tools[0].function.parameters: Expected object, received null" }],
  ['tool description a number', chat({ tools: [{ type: 'function', function: { name: 'f', description: 5 } }] }), { status: 400, code: 'invalid_type', param: "tools[0].function.description", message: "tools[0].function.description: Expected string, received number" }],
  ['tool strict a string', chat({ tools: [{ type: 'function', function: { name: 'f', strict: 'yes' } }] }), { status: 400, code: 'invalid_type', param: "tools[0].function.strict", message: "tools[0].function.strict: Expected boolean, received string" }],
  ['tool_choice any', chat({ tool_choice: 'any' }), { status: 400, code: 'invalid_value', param: "tool_choice", message: "tool_choice: must be 'none', 'auto', 'required' or an object of type 'function'" }],
  ['tool_choice null', chat({ tool_choice: null }), { status: 400, code: 'invalid_value', param: "tool_choice", message: "tool_choice: must be 'none', 'auto', 'required' or an object of type 'function'" }],
  ['tool_choice function without its name', chat({ tool_choice: { type: 'function' } }), { status: 400, code: 'invalid_parameter', param: "tool_choice", message: "'tool_choice' must be 'auto', 'none', 'required' or a named function" }],
  ['tool_choice function name a number', chat({ tool_choice: { type: 'function', function: { name: 5 } } }), { status: 400, code: 'invalid_parameter', param: "tool_choice.function.name", message: "'tool_choice.function.name' must be a string" }],
  ['tool_choice object of another type', chat({ tool_choice: { type: 'allowed_tools', allowed_tools: {} } }), { status: 400, code: 'invalid_value', param: "tool_choice", message: "tool_choice: must be 'none', 'auto', 'required' or an object of type 'function'" }],
  ['parallel_tool_calls a string', chat({ parallel_tool_calls: 'yes' }), { status: 400, code: 'invalid_type', param: "parallel_tool_calls", message: "parallel_tool_calls: Expected boolean, received string" }],
  ['parallel_tool_calls null', chat({ parallel_tool_calls: null }), { status: 400, code: 'invalid_type', param: "parallel_tool_calls", message: "parallel_tool_calls: Expected boolean, received null" }],
  ['response_format of an unknown type', chat({ response_format: { type: 'xml' } }), { status: 400, code: 'invalid_value', param: "response_format.type", message: "response_format.type: Invalid enum value. Expected 'text' | 'json_object' | 'json_schema', received 'xml'" }],
  ['response_format without type', chat({ response_format: {} }), { status: 400, code: 'invalid_type', param: "response_format.type", message: "response_format.type: is required" }],
  ['response_format null', chat({ response_format: null }), { status: 400, code: 'invalid_type', param: "response_format", message: "response_format: Expected object, received null" }],
  ['json_schema response_format without its schema', chat({ response_format: { type: 'json_schema' } }), { status: 400, code: 'invalid_parameter', param: "response_format.json_schema", message: "'response_format.json_schema' must be an object" }],
  ['presence_penalty out of range', chat({ presence_penalty: 5 }), { status: 400, code: 'invalid_parameter', param: "presence_penalty", message: "'presence_penalty' must be between -2 and 2, got 5" }],
  ['metadata with a number value', chat({ metadata: { a: 1 } }), { status: 400, code: 'invalid_parameter', param: "metadata.a", message: "'metadata.a' must be a string" }],
  ['unknown field (valid OpenAI, not translatable)', chat({ logit_bias: { 50256: -100 } }), { passthroughOnly: { code: 'unsupported_parameter', param: "logit_bias" } }],
  ['logprobs (valid OpenAI, not translatable)', chat({ logprobs: true }), { passthroughOnly: { code: 'unsupported_parameter', param: "logprobs" } }],
  ['unknown field and 5 stop entries', chat({ logit_bias: { 1: 1 }, stop: ['a', 'b', 'c', 'd', 'e'] }), { status: 400, code: 'invalid_value', param: "stop", message: "stop: Array must contain at most 4 element(s)" }],
  ['logprobs and n = 2', chat({ logprobs: true, n: 2 }), { status: 400, code: 'invalid_value', param: "n", message: "n: ASC serves one choice per request" }],
  ['model wrong and messages empty', { model: 5, messages: [] }, { status: 400, code: 'invalid_type', param: "model", message: "model: Expected string, received number" }],
  ['presence_penalty and temperature both out of range', chat({ presence_penalty: 5, temperature: 3 }), { status: 400, code: 'invalid_value', param: "temperature", message: "temperature: Number must be less than or equal to 2" }],
  ['unknown field and presence_penalty out of range', chat({ logit_bias: { 1: 1 }, presence_penalty: 5 }), { passthroughOnly: { code: 'unsupported_parameter', param: "logit_bias" } }],
  ['nulls where OpenAI allows them', chat({ stream: null, stream_options: null, n: null, stop: null, seed: null, temperature: null, top_p: null, max_tokens: null, max_completion_tokens: null }), 'ok'],
  ['a typical request with tools', { model: 'gpt-4o', messages: [{ role: 'system', content: 'be brief' }, hi, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }, { role: 'tool', tool_call_id: 'c1', content: 'sunny' }], tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: null } }], tool_choice: 'auto', max_tokens: 100, temperature: 0.2, stream: true, stream_options: { include_usage: true } }, 'ok'],
];

function answer(body: unknown): Answer {
  try {
    const parsed = parseInboundChat('openai', body);
    return parsed.blocker ? { passthroughOnly: { code: parsed.blocker.code, param: parsed.blocker.param } } : 'ok';
  } catch (err) {
    const failure = toIngressError(err);
    const { error } = WIRE_APIS.openai.encodeError(failure.httpStatus, failure.code, failure.message, failure.param) as {
      error: { code: string; param: string | null; message: string };
    };
    return { status: failure.httpStatus, code: error.code, param: error.param, message: error.message };
  }
}

describe('OpenAI chat bodies: what the client sees', () => {
  for (const [name, body, expected] of OPENAI_BODIES) {
    it(name, () => assert.deepEqual(answer(body), expected));
  }

  it('a typical request decodes to its canonical form', () => {
    const parsed = parseInboundChat('openai', OPENAI_BODIES[OPENAI_BODIES.length - 1][1]);
    assert.equal(parsed.blocker, undefined);
    assert.deepEqual(
      { model: parsed.model, stream: parsed.stream, streamUsage: parsed.streamUsage, tools: parsed.canonical?.tools?.map((t) => t.name), messages: parsed.canonical?.messages.length },
      { model: 'gpt-4o', stream: true, streamUsage: true, tools: ['get_weather'], messages: 3 },
    );
  });
});
