/**
 * GCRA (generic cell rate algorithm): a token bucket of `limit` units that refills
 * continuously over `windowMs`, stored as one number per counter, the theoretical
 * arrival time (TAT) — the instant the bucket would be full again. The Redis script in
 * rate-limit.lua.ts is this function, line for line; the in-process adapter calls it.
 */
export interface GcraStep {
  /** The TAT to store (unchanged when refused). */
  tat: number;
  allowed: boolean;
  tooLarge: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

export function gcraStep(storedTat: number | undefined, now: number, limit: number, cost: number, windowMs: number): GcraStep {
  const interval = windowMs / limit;
  const tat = Math.max(storedTat ?? now, now);
  const next = tat + cost * interval;
  // A small epsilon: interval is a float, and limit × interval must still fit exactly.
  const allowed = next - now <= windowMs + 1e-6;
  if (allowed) {
    return {
      tat: next,
      allowed,
      tooLarge: false,
      remaining: Math.max(0, Math.floor((windowMs - (next - now)) / interval + 1e-9)),
      resetMs: Math.ceil(next - now),
      retryAfterMs: 0,
    };
  }
  const tooLarge = cost > limit;
  return {
    tat,
    allowed,
    tooLarge,
    remaining: Math.max(0, Math.floor((windowMs - (tat - now)) / interval + 1e-9)),
    resetMs: Math.ceil(tat - now),
    // A request larger than the whole limit never fits: advertise the time to a full bucket.
    retryAfterMs: tooLarge ? Math.ceil(tat - now) : Math.ceil(next - now - windowMs),
  };
}

/** Moves a TAT by `deltaUnits` (a token correction): charges push it out, refunds pull it back, never before now. */
export function gcraAdjust(storedTat: number | undefined, now: number, limit: number, deltaUnits: number, windowMs: number): number {
  const interval = windowMs / limit;
  const tat = Math.max(storedTat ?? now, now);
  return Math.max(now, tat + deltaUnits * interval);
}
