import type { BudgetReservation, BudgetStore } from './budget-store.port';
import { nanoToUsd, usdToNanoCeil } from './money';

export interface StreamBudgetGuardOptions {
  /** Cost of the request's input (the estimate the reservation was made with). */
  inputCostUsd: number;
  /** The deployment's output price per token. */
  outputUsdPerToken: number;
  /** Output tokens held per extension: one store round trip per this many tokens past the hold. Default 256. */
  extendTokens?: number;
}

export type StreamVerdict = 'continue' | 'cut';

/**
 * The mid-stream cap. The runner calls `check(outputTokensSoFar)` for every chunk BEFORE
 * forwarding it, with the count including that chunk. While the spend so far fits the
 * hold, it answers without I/O; past it, it extends the hold (atomically, against every
 * budget line), and answers 'cut' when the budget cannot cover the spend so far: the
 * runner then drops the chunk, ends the stream with an in-band error and settles the
 * exact spend. Overshoot of one stream is therefore at most the tokens of one chunk
 * (docs/spend.md, "Bound on overshoot").
 */
export class StreamBudgetGuard {
  private held: BudgetReservation;
  private cut = false;

  constructor(
    private readonly store: BudgetStore,
    reservation: BudgetReservation,
    private readonly options: StreamBudgetGuardOptions,
  ) {
    this.held = reservation;
  }

  /** The reservation to settle (it grows with each extension). */
  get reservation(): BudgetReservation {
    return this.held;
  }

  /** Spend of `outputTokens` so far, in USD (what settle gets when the provider reports no usage). */
  spentUsd(outputTokens: number): number {
    return this.options.inputCostUsd + outputTokens * this.options.outputUsdPerToken;
  }

  async check(outputTokens: number): Promise<StreamVerdict> {
    if (this.cut) return 'cut';
    const spent = usdToNanoCeil(this.spentUsd(outputTokens), 'spend');
    if (spent <= this.held.heldNano) return 'continue';
    const missing = spent - this.held.heldNano;
    const ahead = usdToNanoCeil((this.options.extendTokens ?? 256) * this.options.outputUsdPerToken, 'extension');
    // First ask for a block ahead (one round trip per block); near the cap, for exactly what is missing.
    const grown =
      (await this.store.extend(this.held, nanoToUsd(missing + ahead))) ?? (await this.store.extend(this.held, nanoToUsd(missing)));
    if (!grown) {
      this.cut = true;
      return 'cut';
    }
    this.held = grown;
    return 'continue';
  }
}
