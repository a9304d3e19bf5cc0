import type { BudgetReservation, BudgetStore } from './budget-store.port';
import { nanoToUsd, usdToNanoCeil } from './money';

export interface StreamBudgetGuardOptions {
  /** Cost of the request's input (the estimate the reservation was made with). */
  inputCostUsd: number;
  /** The deployment's output price per token. */
  outputUsdPerToken: number;
  /** Output tokens asked for per extension: one store round trip per this many tokens past the hold. Default 256. */
  extendTokens?: number;
  /**
   * Ask for more at the latest this many tokens before the hold runs out, whatever the
   * block size: room for the store's round trip, and for the halving near the cap to end
   * before the stream reaches its hold. Default 32.
   */
  leadTokens?: number;
}

export type StreamVerdict = 'continue' | 'cut';

/**
 * The mid-stream cap. The runner calls `observe(outputTokensSoFar)` after each streamed
 * chunk; it answers synchronously (no I/O on the stream's path):
 * - 'continue' while the spend so far fits the hold;
 * - 'cut' as soon as it does not: the runner stops the upstream call, ends the stream
 *   with an in-band error and settles the exact spend.
 * Half a block (and at least `leadTokens`) before the hold runs out it asks the store, in
 * the background, to extend the hold by a block (atomic against every budget line); a
 * refused block is retried at half the size, down to one token, so a stream that is not
 * faster than the store's round trips uses the budget to its last token (one that is gets
 * cut a few tokens short: the cap never waits for I/O).
 * Overshoot of one stream is therefore at most the tokens of the chunk that crossed the
 * hold (docs/spend.md, "Bound on overshoot").
 */
export class StreamBudgetGuard {
  private held: BudgetReservation;
  private blockTokens: number;
  private readonly leadTokens: number;
  private pending: Promise<void> | undefined;
  private exhausted = false;
  private refusedToTheLastToken = false;
  private cut = false;

  constructor(
    private readonly store: Pick<BudgetStore, 'extend'>,
    reservation: BudgetReservation,
    private readonly options: StreamBudgetGuardOptions,
  ) {
    this.held = reservation;
    this.blockTokens = Math.max(1, options.extendTokens ?? 256);
    this.leadTokens = Math.max(0, options.leadTokens ?? 32);
  }

  /** The reservation to settle (it grows with each extension). */
  get reservation(): BudgetReservation {
    return this.held;
  }

  /** The output price the guard counts with (USD per token). */
  get outputUsdPerToken(): number {
    return this.options.outputUsdPerToken;
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
      const lead = Math.max(block / 2, usdToNanoCeil(this.leadTokens * price, 'extension'));
      if (spent + lead > this.held.heldNano) this.extend(Math.max(0, spent - this.held.heldNano) + block);
    }
    if (spent <= this.held.heldNano) return 'continue';
    this.cut = true;
    return 'cut';
  }

  /**
   * True when the stream was cut because not one more output token fit the budget (as
   * opposed to the store being unreachable): the budget is used up to its last token.
   */
  get reachedBudget(): boolean {
    return this.cut && this.refusedToTheLastToken;
  }

  /** True while an extension is in flight. */
  get busy(): boolean {
    return !!this.pending;
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
          else if ((this.blockTokens = Math.floor(this.blockTokens / 2)) < 1) this.exhausted = this.refusedToTheLastToken = true;
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
