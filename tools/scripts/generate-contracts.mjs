// Generates TypeScript contracts from proto/ with buf + ts-proto (no binary download:
// @bufbuild/buf ships its binary inside the npm package).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const buf = join(root, 'node_modules', '.bin', 'buf');
rmSync(join(root, 'libs/contracts/src/gen'), { recursive: true, force: true });
try {
  execFileSync(buf, ['lint'], { cwd: join(root, 'proto'), stdio: 'inherit' });
  execFileSync(buf, ['generate'], { cwd: join(root, 'proto'), stdio: 'inherit' });
} catch (err) {
  console.error(`contract generation failed: ${err.message}`);
  process.exit(1);
}
