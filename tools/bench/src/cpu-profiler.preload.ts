// Loaded into a process under test with NODE_OPTIONS="--require <this file>" (Node 20 refuses
// --cpu-prof in NODE_OPTIONS, and the launchers in @asc/testing fix the node arguments). Runs
// the same V8 sampling profiler as `node --cpu-prof`, writing the same .cpuprofile format, but
// only between two SIGUSR2 signals: the first starts it, the second writes
// ASC_CPU_PROFILE_FILE and prints `ASC_CPU_PROFILE_WRITTEN=<file>`. So boot and warm-up stay
// out of the profile. Main thread only.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { isMainThread } from 'node:worker_threads';

const file = process.env.ASC_CPU_PROFILE_FILE;
if (file && isMainThread) {
  const session = new Session();
  session.connect();
  let running = false;
  session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: Number(process.env.ASC_CPU_PROFILE_INTERVAL_US ?? 500) }));
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.start');
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, result) => {
      if (err) {
        console.error(`cpu profile: ${err.message}`);
        return;
      }
      writeFileSync(file, JSON.stringify(result.profile));
      console.log(`ASC_CPU_PROFILE_WRITTEN=${file}`);
    });
  });
}
