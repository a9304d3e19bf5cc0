// Starts the provider simulator as a standalone process.
//   node -r ./tools/scripts/register-paths.js dist/tools/simulator/src/main.js --port 8080 [options]
// Options (env fallbacks in brackets): --host [SIM_HOST], --port [SIM_PORT], --latency-ms [SIM_LATENCY_MS],
// --ttft-ms [SIM_TTFT_MS], --tokens-per-sec [SIM_TOKENS_PER_SEC],
// --chunk-interval-ms [SIM_CHUNK_INTERVAL_MS], --accepted-keys a,b [SIM_ACCEPTED_KEYS],
// --embedding-dims [SIM_EMBEDDING_DIMS], --fail 429|500|timeout|... [SIM_FAIL], --fail-rate 0.1 [SIM_FAIL_RATE],
// --retry-after [SIM_RETRY_AFTER], --reply-words [SIM_REPLY_WORDS].
// Prints one JSON line {url, port, baseUrls} on stdout once listening.
import { FaultMode, SimulatorOptions, startSimulator } from '@asc/simulator';

function readArgs(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else out.set(a.slice(2), argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : 'true');
  }
  return out;
}

function fail(message: string): never {
  process.stderr.write(`simulator: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const args = readArgs(process.argv.slice(2));
  const get = (name: string) => args.get(name) ?? process.env[`SIM_${name.toUpperCase().replace(/-/g, '_')}`];
  const num = (name: string): number | undefined => {
    const v = get(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) fail(`--${name} must be a non-negative number`);
    return n;
  };
  let fault: FaultMode | undefined;
  const f = get('fail');
  if (f !== undefined) {
    fault = /^\d+$/.test(f) ? Number(f) : (f as FaultMode);
    if (typeof fault === 'string' && !['timeout', 'disconnect', 'disconnect-midstream', 'error-midstream'].includes(fault)) fail(`unknown --fail ${f}`);
  }
  const keys = get('accepted-keys');
  const options: SimulatorOptions = {
    host: get('host') ?? '127.0.0.1',
    port: num('port') ?? 8787,
    latencyMs: num('latency-ms'),
    ttftMs: num('ttft-ms'),
    tokensPerSec: num('tokens-per-sec'),
    chunkIntervalMs: num('chunk-interval-ms'),
    acceptedKeys: keys ? keys.split(',').map((k) => k.trim()).filter(Boolean) : undefined,
    embeddingDims: num('embedding-dims'),
    fail: fault,
    failRate: num('fail-rate'),
    retryAfterSec: num('retry-after'),
    replyWords: num('reply-words'),
  };
  const sim = await startSimulator(options);
  process.stdout.write(`${JSON.stringify({ url: sim.url, port: sim.port, baseUrls: sim.baseUrls })}\n`);
  const stop = () => {
    sim.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
