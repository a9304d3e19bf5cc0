import { routingV1 } from '@asc/contracts';

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);

/** Reads OpenAI-style usage (`prompt_tokens`, `completion_tokens`, cached details). */
export function openAIUsage(usage: unknown): TokenUsage | undefined {
  if (typeof usage !== 'object' || usage === null) return undefined;
  const u = usage as { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } | null };
  return {
    inputTokens: count(u.prompt_tokens),
    outputTokens: count(u.completion_tokens),
    cachedInputTokens: count(u.prompt_tokens_details?.cached_tokens),
  };
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
