import { BUILTIN_DETECTORS } from './detectors';
import { compileGuardrails } from './guardrails';
import { LABELLED_SET } from './labelled-set';

export interface LabelledSetMeasurement {
  /** Labelled spans in the set. */
  expected: number;
  found: number;
  /** Labelled spans no detection of the right detector overlapped (false negatives). */
  missed: Array<{ text: string; detector: string; value: string }>;
  /** Detections that overlap no labelled span of their detector. */
  falsePositives: Array<{ text: string; detector: string; value: string }>;
  perDetector: Record<string, { expected: number; found: number }>;
}

/** Runs every built-in detector (action redact) over the labelled set. */
export function measureLabelledSet(): LabelledSetMeasurement {
  const g = compileGuardrails({ detectors: Object.fromEntries(BUILTIN_DETECTORS.map((d) => [d, 'redact'])) });
  const m: LabelledSetMeasurement = { expected: 0, found: 0, missed: [], falsePositives: [], perDetector: {} };
  for (const c of LABELLED_SET) {
    const detected = g.detect(c.text);
    const labelled = c.expect.map((e) => ({ ...e, start: c.text.indexOf(e.value), end: c.text.indexOf(e.value) + e.value.length }));
    const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }) => a.start < b.end && b.start < a.end;
    for (const l of labelled) {
      const stats = (m.perDetector[l.detector] ??= { expected: 0, found: 0 });
      stats.expected++;
      m.expected++;
      if (detected.some((d) => d.detector === l.detector && overlaps(d, l))) {
        stats.found++;
        m.found++;
      } else m.missed.push({ text: c.text, detector: l.detector, value: l.value });
    }
    for (const d of detected) {
      if (!labelled.some((l) => l.detector === d.detector && overlaps(d, l))) {
        m.falsePositives.push({ text: c.text, detector: d.detector, value: c.text.slice(d.start, d.end) });
      }
    }
  }
  return m;
}
