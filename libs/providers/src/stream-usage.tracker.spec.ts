import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { CanonicalRequest } from './canonical';
import { estimateRequestInputTokens } from './stream-usage.tracker';

describe('input estimate of a request', () => {
  it('counts a quarter token per character of every text the model reads: system parts (joined by a newline), messages, tool calls and tools', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } } };
    const req: CanonicalRequest = {
      model: 'm',
      system: ['Be brief.', 'Answer in French.'],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'What is the weather in Paris?' }] },
        { role: 'assistant', content: [], toolCalls: [{ id: 'c1', name: 'weather', argumentsJson: '{"city":"Paris"}' }] },
        { role: 'tool', toolCallId: 'c1', content: [{ type: 'text', text: 'sunny' }] },
        { role: 'system', content: 'Keep it short.' },
      ],
      tools: [{ name: 'weather', description: 'Current weather', jsonSchema: schema }],
      stream: false,
      streamUsage: false,
    };
    const text = ['Be brief.', 'Answer in French.'].join('\n') + 'What is the weather in Paris?' + 'weather{"city":"Paris"}' + 'sunny' + 'Keep it short.' + 'weather' + 'Current weather' + JSON.stringify(schema);
    assert.equal(estimateRequestInputTokens(req), Math.ceil(text.length / 4));
    assert.equal(estimateRequestInputTokens({ ...req, system: [], messages: [], tools: undefined }), 0);
  });
});
