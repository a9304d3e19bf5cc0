// Compares PII detection libraries with libs/guardrails on the labelled set
// (libs/guardrails/src/labelled-set.ts): false negatives, false positives on the negatives,
// and cost per KiB of prose. The candidates are NOT project dependencies: install them in a
// scratch folder and point CANDIDATES_DIR at it, e.g.
//   mkdir /tmp/gr-eval && cd /tmp/gr-eval && npm init -y &&
//   npm install @redactpii/node@1.0.17 @openredaction/openredaction@1.0.4
//   cd - && npm run build && CANDIDATES_DIR=/tmp/gr-eval node tools/guardrails/eval-candidates.mjs
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
require(join(root, 'tools/scripts/register-paths.js'));
const { compileGuardrails, BUILTIN_DETECTORS, LABELLED_SET } = require(join(root, 'dist/libs/guardrails/src/index.js'));
const candidatesDir = process.env.CANDIDATES_DIR ?? '/tmp/gr-eval';
const fromCandidates = createRequire(join(candidatesDir, 'package.json'));

const ours = compileGuardrails({ detectors: Object.fromEntries(BUILTIN_DETECTORS.map((d) => [d, 'redact'])) });
const redactors = { 'libs/guardrails': (text) => ours.scan([text]).texts[0] };
try {
  const { Redactor } = fromCandidates('@redactpii/node');
  const r = new Redactor();
  redactors['@redactpii/node 1.0.17'] = (text) => r.redact(text);
} catch (err) {
  console.error(`@redactpii/node not installed in ${candidatesDir}: ${err.message}`);
}
try {
  const { OpenRedaction } = fromCandidates('@openredaction/openredaction');
  const r = new OpenRedaction();
  redactors['@openredaction/openredaction 1.0.4'] = (text) => r.detect(text).redacted;
} catch (err) {
  console.error(`@openredaction/openredaction not installed in ${candidatesDir}: ${err.message}`);
}

const prose =
  'The customer asked about their order and wanted to know when the package would arrive. We checked the warehouse records and the shipment left on Tuesday. ';
const kib4 = prose.repeat(Math.ceil(4096 / prose.length)).slice(0, 4096);

/** Minimum over rounds: the machine is shared, the minimum is the least disturbed figure. */
function microsPerKiB(redact) {
  for (let i = 0; i < 50; i++) redact(kib4);
  let best = Infinity;
  for (let round = 0; round < 7; round++) {
    const n = 40;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) redact(kib4);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e3 / n / 4);
  }
  return best;
}

const rows = [];
for (const [name, redact] of Object.entries(redactors)) {
  const perDetector = {};
  let expected = 0;
  let found = 0;
  let negatives = 0;
  let falsePositives = 0;
  for (const c of LABELLED_SET) {
    const out = redact(c.text);
    if (!c.expect.length) {
      negatives++;
      if (out !== c.text) falsePositives++;
    }
    for (const e of c.expect) {
      const s = (perDetector[e.detector] ??= { expected: 0, found: 0 });
      s.expected++;
      expected++;
      // Found = the value no longer appears in the output (redacted, whatever the label).
      if (!out.includes(e.value)) {
        s.found++;
        found++;
      }
    }
  }
  rows.push({
    name,
    recall: `${found}/${expected}`,
    falseNegatives: expected - found,
    falsePositives: `${falsePositives}/${negatives}`,
    usPerKiB: microsPerKiB(redact).toFixed(1),
    missedBy: Object.entries(perDetector)
      .filter(([, s]) => s.found < s.expected)
      .map(([d, s]) => `${d} ${s.expected - s.found}/${s.expected}`)
      .join(', '),
  });
}
console.table(rows);
