import { SpendError } from './spend.error';

/**
 * Money is counted in integer nano-dollars (1e-9 USD) wherever it is added up: a
 * 100-token request on a cheap model costs ~1.5e-5 USD, which float sums would drift on
 * and micro-dollars would round to zero. Lua numbers are doubles, exact up to 2^53
 * nano-dollars (~9 million USD per counter per period), far above any budget.
 */
export const NANO_PER_USD = 1e9;
const MAX_NANO = Number.MAX_SAFE_INTEGER;

/** USD → nano-USD, rounded up: a reservation must never be smaller than the cost it covers. */
export function usdToNanoCeil(usd: number, field = 'amount'): number {
  return checkedNano(Math.ceil(checkUsd(usd, field) * NANO_PER_USD - 1e-6), field);
}

/** USD → nano-USD, rounded to nearest (settled costs and budget limits). */
export function usdToNano(usd: number, field = 'amount'): number {
  return checkedNano(Math.round(checkUsd(usd, field) * NANO_PER_USD), field);
}

export function nanoToUsd(nano: number): number {
  return nano / NANO_PER_USD;
}

function checkUsd(usd: number, field: string): number {
  if (typeof usd !== 'number' || !Number.isFinite(usd) || usd < 0) {
    throw new SpendError('spend_invalid_input', `${field} must be a finite, non-negative number of USD`);
  }
  return usd;
}

function checkedNano(nano: number, field: string): number {
  const n = Math.max(0, nano);
  if (n > MAX_NANO) throw new SpendError('spend_invalid_input', `${field} is too large`);
  return n;
}
