// Runs the compiled test tiers with node's test runner and prints one closing line
// "N passed, N failed". Tiers: unit (*.spec.js), integration (*.int-spec.js) and
// end-to-end (*.e2e-spec.js). Usage: run-tests.mjs [--tier unit|int|e2e]... [filter]
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = join(root, 'dist');
const tiers = {
  unit: { suffix: '.spec.js', concurrency: 2 },
  int: { suffix: '.int-spec.js', concurrency: 1 },
  e2e: { suffix: '.e2e-spec.js', concurrency: 1 },
};

const args = process.argv.slice(2);
const chosen = [];
let filter = '';
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--tier') chosen.push(args[++i]);
  else filter = args[i];
}
const run = chosen.length ? chosen : Object.keys(tiers);

function find(dir, suffix, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) find(p, suffix, out);
    else if (entry.name.endsWith(suffix) && (suffix !== '.spec.js' || !/\.(int|e2e)-spec\.js$/.test(entry.name))) out.push(p);
  }
  return out;
}

const outDir = join(root, '.ci', 'out');
mkdirSync(outDir, { recursive: true });
let passed = 0;
let failed = 0;
let skipped = 0;
for (const tier of run) {
  const spec = tiers[tier];
  if (!spec) throw new Error(`unknown tier ${tier}`);
  const files = ['apps', 'libs', 'tools']
    .flatMap((d) => { try { return find(join(dist, d), spec.suffix); } catch { return []; } })
    .filter((f) => f.includes(filter))
    .sort();
  if (!files.length) continue;
  console.log(`\n=== ${tier}: ${files.length} file(s) ===`);
  const tap = join(outDir, `${tier}.tap`);
  const res = spawnSync(process.execPath, [
    '--test', `--test-concurrency=${spec.concurrency}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...files,
  ], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} -r ${join(root, 'tools/scripts/register-paths.js')}` },
  });
  const text = readFileSync(tap, 'utf8');
  const count = (name) => Number((text.match(new RegExp(`^# ${name} (\\d+)$`, 'm')) ?? [])[1] ?? 0);
  passed += count('pass');
  failed += count('fail') + count('cancelled');
  skipped += count('skipped') + count('todo');
  if (res.status !== 0 && count('fail') + count('cancelled') === 0) failed += 1; // the runner itself failed
}
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
