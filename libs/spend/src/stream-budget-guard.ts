import type { BudgetReservation, BudgetStore } from './budget-store.port';
import { nanoToUsd, usdToNanoCeil } from './money';

export interface StreamBudgetGuardOptions {
  /** Cost of the request's input (the estimate the reservation was made with). */
  inputCostUsd: number;
  /** The deployment's output price per token. */
  outputUsdPerToken: number;
  /** Output tokens asked for per extension: one store round trip per this many tokens past the hold. Default 256. */
  extendTokens?: number;
}

export type StreamVerdict = 'continue' | 'cut';

/**
 * The mid-stream cap. The runner calls `observe(outputTokensSoFar)` after each streamed
 * chunk; it answers synchronously (no I/O on the stream's path):
 * - 'continue' while the spend so far fits the hold;
 * - 'cut' as soon as it does not: the runner stops the upstream call, ends the stream
 *   with an in-band error and settles the exact spend.
 * Half a block before the hold runs out it asks the store, in the background, to extend
 * the hold by a block (atomic against every budget line); a refused block is retried at
 * half the size, down to one token, so the stream uses the budget to its last token.
 * Overshoot of one stream is therefore at most the tokens of the chunk that crossed the
 * hold (docs/spend.md, "Bound on overshoot").
 */
export class StreamBudgetGuard {
  private held: BudgetReservation;
  private blockTokens: number;
  private pending: Promise<void> | undefined;
  private exhausted = false;
  private cut = false;

  constructor(
    private readonly store: BudgetStore,
    reservation: BudgetReservation,
    private readonly options: StreamBudgetGuardOptions,
  ) {
    this.held = reservation;
    this.blockTokens = Math.max(1, options.extendTokens ?? 256);
  }

  /** The reservation to settle (it grows with each extension). */
  get reservation(): BudgetReservation {
    return this.held;
  }

  /** Spend of `outputTokens` so far, in USD. */
  spentUsd(outputTokens: number): number {
    return this.options.inputCostUsd + outputTokens * this.options.outputUsdPerToken;
  }

  observe(outputTokens: number): StreamVerdict {
    if (this.cut) return 'cut';
    const spent = usdToNanoCeil(this.spentUsd(outputTokens), 'spend');
    const price = this.options.outputUsdPerToken;
    if (price > 0 && !this.pending && !this.exhausted) {
      const block = usdToNanoCeil(this.blockTokens * price, 'extension');
      if (spent + block / 2 > this.held.heldNano) this.extend(Math.max(0, spent - this.held.heldNano) + block);
    }
    if (spent <= this.held.heldNano) return 'continue';
    this.cut = true;
    return 'cut';
  }

  /** Resolves when no extension is in flight (tests; settle needs no wait: it releases by request id). */
  async idle(): Promise<void> {
    while (this.pending) await this.pending;
  }

  private extend(nano: number): void {
    this.pending = this.store
      .extend(this.held, nanoToUsd(nano))
      .then(
        (grown) => {
          if (grown) this.held = grown;
          else if ((this.blockTokens = Math.floor(this.blockTokens / 2)) < 1) this.exhausted = true;
        },
        () => {
          this.exhausted = true;
        },
      )
      .finally(() => {
        this.pending = undefined;
      });
  }
}
