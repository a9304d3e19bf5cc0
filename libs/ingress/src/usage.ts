import { routingV1 } from '@asc/contracts';
import type { CanonicalUsage } from '@asc/providers';

/** Cost in USD from the deployment's price per million tokens; cached input is billed at its own rate. */
export function costUsd(usage: CanonicalUsage, price: routingV1.Price | undefined): number {
  if (!price) return 0;
  const cached = usage.cachedInputTokens ?? 0;
  const uncached = Math.max(0, usage.inputTokens - cached);
  const micros =
    uncached * price.inputPerMtokUsd +
    cached * (price.cachedInputPerMtokUsd || price.inputPerMtokUsd) +
    usage.outputTokens * price.outputPerMtokUsd;
  return Math.round((micros / 1_000_000) * 1e9) / 1e9;
}
