import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export const repoRoot = join(__dirname, '..', '..', '..', '..');
const registerPaths = join(repoRoot, 'tools', 'scripts', 'register-paths.js');

export interface NodeProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the first stdout line matching the pattern (or rejects when the process exits). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a compiled entry point (path under dist/) as its own process, the way production runs it. */
export function startNodeProcess(distScript: string, env: Record<string, string>): NodeProcess {
  const child = spawn(process.execPath, ['-r', registerPaths, join(repoRoot, 'dist', distScript)], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve((exited = code))));
  return {
    child,
    output: () => out,
    waitForLine(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => finish(new Error(`timed out waiting for ${pattern} in:\n${out.slice(-3000)}`)), timeoutMs);
        const check = () => {
          const m = out.match(pattern);
          if (m) finish(undefined, m);
        };
        const onExit = () => setImmediate(() => finish(new Error(`${distScript} exited (${exited}) before ${pattern}:\n${out.slice(-3000)}`)));
        const finish = (err?: Error, m?: RegExpMatchArray) => {
          clearTimeout(deadline);
          child.stdout?.off('data', check);
          child.off('exit', onExit);
          if (err) reject(err);
          else resolve(m as RegExpMatchArray);
        };
        child.stdout?.on('data', check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (exited !== undefined) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Polls an HTTP endpoint until it answers 200 (e.g. /readyz). */
export async function waitForReady(url: string, timeoutMs = 60_000, proc?: NodeProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      // A process that died (EADDRINUSE, say) did not answer: another one on the port did.
      if (res.ok && (!proc || running(proc))) return;
    } catch {
      // not listening yet
    }
    if (proc && !running(proc)) throw new Error(`process exited before ${url} was ready:\n${proc.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms${proc ? `:\n${proc.output().slice(-3000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const running = (proc: NodeProcess) => proc.child.exitCode === null && proc.child.signalCode === null;
