import { routingV1 } from '@asc/contracts';

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
}

/** Cost in USD from the deployment's price per million tokens; cached input is billed at its own rate. */
export function costUsd(usage: TokenUsage, price: routingV1.Price | undefined): number {
  if (!price) return 0;
  const uncached = Math.max(0, usage.inputTokens - usage.cachedInputTokens);
  const micros =
    uncached * price.inputPerMtokUsd +
    usage.cachedInputTokens * (price.cachedInputPerMtokUsd || price.inputPerMtokUsd) +
    usage.outputTokens * price.outputPerMtokUsd;
  return Math.round((micros / 1_000_000) * 1e9) / 1e9;
}
