// Cost of the guardrails step per KiB of prompt: every built-in detector, ASC's injection
// phrasings and 20 deny terms on, over clean prose and over PII-dense text, at three sizes.
// Per KiB: CPU time of this process (process.cpuUsage, user + system), minimum over rounds,
// so that time spent waiting for a core on a shared, loaded machine is not counted. Then the
// median and p99 wall time of single scans of a 1 KiB chat request. Then streamed answers:
// CPU per KiB of answer scanned as it streams (4-character pieces, about one token each),
// and how many characters each configuration holds back.
//   npm run build && node tools/guardrails/bench-guardrails.mjs
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
require(join(root, 'tools/scripts/register-paths.js'));
const { compileGuardrails, scanCanonicalRequest, BUILTIN_DETECTORS, GuardrailsTextStream, RedactionSession } = require(join(root, 'dist/libs/guardrails/src/index.js'));

const g = compileGuardrails({
  detectors: Object.fromEntries(BUILTIN_DETECTORS.map((d) => [d, 'redact'])),
  denyTerms: Array.from({ length: 20 }, (_, i) => `codename-${i}`),
  denyTermsAction: 'redact',
  builtinInjectionPatterns: true,
  injectionAction: 'redact',
});
const prose =
  'The customer asked about their order and wanted to know when the package would arrive. We checked the warehouse records and the shipment left on Tuesday at 10:30, order 48213. ';
const dense =
  'Patient Jane, DOB: 04/12/1987, SSN 123-45-6789, email jane.doe@example.com, phone (415) 555-0132, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, MRN: 00482913, host 192.0.2.44. ';
const sized = (s, bytes) => s.repeat(Math.ceil(bytes / s.length)).slice(0, bytes);

function microsPerKiB(text) {
  const kib = text.length / 1024;
  const rounds = [];
  for (let i = 0; i < 20; i++) g.scan([text]);
  for (let round = 0; round < 9; round++) {
    const n = Math.max(5, Math.round(200 / kib));
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) g.scan([text]);
    const c = process.cpuUsage(c0);
    rounds.push((c.user + c.system) / n / kib);
  }
  return Math.min(...rounds);
}

const rows = [];
for (const [name, base] of [['prose', prose], ['PII-dense', dense]]) {
  for (const bytes of [1024, 4096, 16384]) rows.push({ text: name, KiB: bytes / 1024, 'CPU µs per KiB (min of 9 rounds)': microsPerKiB(sized(base, bytes)).toFixed(1) });
}
console.table(rows);

// One chat request of ~1 KiB through the canonical scan (what the runner calls), single calls.
const request = {
  model: 'm',
  system: ['You are a helpful support agent for ACME.'],
  messages: [{ role: 'user', content: [{ type: 'text', text: sized(prose, 980) }] }],
  stream: false,
  streamUsage: false,
};
const samples = [];
for (let i = 0; i < 200; i++) scanCanonicalRequest(g, request);
for (let i = 0; i < 2000; i++) {
  const t0 = process.hrtime.bigint();
  scanCanonicalRequest(g, request);
  samples.push(Number(process.hrtime.bigint() - t0) / 1e3);
}
samples.sort((a, b) => a - b);
console.log(`1 KiB canonical chat request: p50 ${samples[1000].toFixed(1)} µs, p99 ${samples[1980].toFixed(1)} µs`);

// Streamed answers: the same text arriving in 4-character pieces through GuardrailsTextStream.
const configs = {
  'every detector + injection + 20 deny terms': g,
  'e-mail, phone, card, IBAN, IP (character-class detectors)': compileGuardrails({
    detectors: { email: 'redact', phone: 'redact', credit_card: 'redact', iban: 'redact', ip_address: 'redact' },
  }),
};
function streamOnce(guardrails, text, size) {
  const s = new GuardrailsTextStream(guardrails, new RedactionSession());
  let out = 0;
  let maxHeld = 0;
  let pushed = 0;
  for (let i = 0; i < text.length; i += size) {
    out += s.push(text.slice(i, i + size)).length;
    pushed = Math.min(text.length, i + size);
    maxHeld = Math.max(maxHeld, pushed - out);
  }
  s.end();
  return maxHeld;
}
function streamMicrosPerKiB(guardrails, text, size = 4) {
  const kib = text.length / 1024;
  const rounds = [];
  for (let i = 0; i < 10; i++) streamOnce(guardrails, text, size);
  for (let round = 0; round < 9; round++) {
    const n = Math.max(3, Math.round(100 / kib));
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) streamOnce(guardrails, text, size);
    const c = process.cpuUsage(c0);
    rounds.push((c.user + c.system) / n / kib);
  }
  return Math.min(...rounds);
}
const streamRows = [];
for (const [config, guardrails] of Object.entries(configs)) {
  for (const [name, base] of [['prose', prose], ['PII-dense', dense]]) {
    const text = sized(base, 4096);
    streamRows.push({
      config,
      text: name,
      'CPU µs per KiB streamed (4-char pieces)': streamMicrosPerKiB(guardrails, text).toFixed(1),
      'whole-text scan µs per KiB': microsPerKiBWith(guardrails, text).toFixed(1),
      'max chars held': streamOnce(guardrails, sized(prose, 4096), 4),
    });
  }
}
console.table(streamRows);

function microsPerKiBWith(guardrails, text) {
  const kib = text.length / 1024;
  const rounds = [];
  for (let round = 0; round < 9; round++) {
    const n = Math.max(5, Math.round(200 / kib));
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) guardrails.scan([text]);
    const c = process.cpuUsage(c0);
    rounds.push((c.user + c.system) / n / kib);
  }
  return Math.min(...rounds);
}
