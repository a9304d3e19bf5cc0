// Per-request cost of reading an OpenAI chat body as ingress does (OpenAI's rules + canonical
// form, in one pass: decodeOpenAIRequest), on a typical 3-message body with a tool. Runs in one
// process, in a few seconds:
//
//   npm run build && node -r ./tools/scripts/register-paths.js dist/tools/bench/src/validation-cost.js [--iterations 100000] [--rounds 5]
//
// Prints the median over the rounds of the mean time per request.
import { parseArgs } from 'node:util';
import { WIRE_CODECS } from '@asc/providers';

const BODY = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are a helpful support assistant.' },
    { role: 'user', content: 'Where is my order #12345? It was supposed to arrive yesterday.' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_order', arguments: '{"id":"12345"}' } }] },
  ],
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_order',
        description: 'Looks an order up by its id',
        parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      },
    },
  ],
  tool_choice: 'auto',
  max_tokens: 256,
  temperature: 0.2,
  stream: false,
};

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '5' } } });
const iterations = Number(values.iterations);
const rounds = Number(values.rounds);

let sink = 0;
const round = (n: number): number => {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += WIRE_CODECS.openai.decodeRequest(BODY).model.length;
  return Number(process.hrtime.bigint() - start) / 1000 / n;
};

round(Math.min(iterations, 20_000)); // warm-up: let the JIT settle
const perRequestUs = Array.from({ length: rounds }, () => round(iterations)).sort((a, b) => a - b);
// Using the results keeps the JIT from dropping the work.
if (sink === 0) throw new Error('nothing was decoded');
const median = perRequestUs[Math.floor(perRequestUs.length / 2)];
console.log(`decodeOpenAIRequest: ${median.toFixed(2)} µs per request (median of ${rounds} rounds of ${iterations}; rounds ${perRequestUs.map((v) => v.toFixed(2)).join(' ')})`);
