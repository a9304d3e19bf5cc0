// Measures the simulator alone: runs it in a child process (so load generation does not
// share its event loop) and drives it with autocannon.
//   node dist/tools/simulator/src/throughput.js [--duration 10] [--connections 32]
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const root = join(__dirname, '..', '..', '..', '..');
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};

interface Scenario {
  name: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Give me three tips for writing fast Node.js HTTP servers.' }] };
const scenarios: Scenario[] = [
  { name: 'openai chat, non-stream', path: '/v1/chat/completions', headers: { authorization: 'Bearer k' }, body: chat },
  { name: 'openai chat, stream + usage', path: '/v1/chat/completions', headers: { authorization: 'Bearer k' }, body: { ...chat, stream: true, stream_options: { include_usage: true } } },
  { name: 'anthropic messages, non-stream', path: '/v1/messages', headers: { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' }, body: { model: 'claude-sonnet-4-6', max_tokens: 256, messages: chat.messages.slice(1) } },
  { name: 'mistral chat, stream', path: '/mistral/v1/chat/completions', headers: { authorization: 'Bearer k' }, body: { model: 'mistral-small-latest', stream: true, messages: chat.messages } },
  { name: 'openai embeddings (1536 dims)', path: '/v1/embeddings', headers: { authorization: 'Bearer k' }, body: { model: 'text-embedding-3-small', input: 'hello world', encoding_format: 'float' } },
];

async function main(): Promise<void> {
  const duration = arg('duration', 10);
  const connections = arg('connections', 32);
  const child = spawn(process.execPath, ['-r', join(root, 'tools/scripts/register-paths.js'), join(root, 'dist/tools/simulator/src/main.js'), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
    });
    const { url } = JSON.parse(line) as { url: string };
    console.log(`simulator at ${url}; ${connections} connections, ${duration}s per scenario`);
    for (const s of scenarios) {
      const result = await autocannon({
        url: url + s.path,
        method: 'POST',
        connections,
        duration,
        headers: { 'content-type': 'application/json', ...s.headers },
        body: JSON.stringify(s.body),
      });
      console.log(
        `${s.name.padEnd(34)} ${Math.round(result.requests.average).toString().padStart(7)} req/s  ` +
          `p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms  non-2xx ${result.non2xx}  errors ${result.errors}`,
      );
    }
  } finally {
    child.kill('SIGTERM');
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
