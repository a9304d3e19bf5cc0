import { estimateRequestInputTokens } from '@asc/providers';
import { IngressError } from '../ingress.error';
import type { RequestContext } from '../request-context';
import type { RunnerStep } from '../runner.types';
import type { InboundApi } from '../wire-apis';

/** The parameter that caps output in each inbound API (named in a 400). */
const MAX_OUTPUT_PARAM: Record<InboundApi, string> = {
  openai: 'max_completion_tokens',
  responses: 'max_output_tokens',
  anthropic: 'max_tokens',
  mistral: 'max_tokens',
};

/**
 * The effective policy's token caps (tenant → app → key, the minimum). A prompt over
 * max_input_tokens (gateway estimate: 1 token per 4 characters) or an explicit output cap
 * over max_output_tokens is a 400 in the caller's shape naming the parameter; a request
 * without an output cap gets the policy's, so the provider cannot produce more.
 */
export class PolicyCapsStep implements RunnerStep {
  readonly name = 'policy-caps';

  before(ctx: RequestContext): void {
    const decision = ctx.decision;
    const chat = ctx.chat;
    if (!decision || !chat) return;
    const { maxInputTokens, maxOutputTokens } = decision;
    if (maxInputTokens && chat.canonical) {
      const estimated = estimateRequestInputTokens(chat.canonical);
      if (estimated > maxInputTokens) {
        throw new IngressError(
          'input_too_long',
          `the prompt is about ${estimated} tokens; the policy of this key allows at most ${maxInputTokens} input tokens`,
          400,
          ctx.api === 'responses' ? 'input' : 'messages',
        );
      }
    }
    if (maxOutputTokens && chat.canonical) {
      const asked = chat.canonical.maxOutputTokens;
      if (asked !== undefined && asked > maxOutputTokens) {
        throw new IngressError(
          'max_tokens_too_large',
          `${MAX_OUTPUT_PARAM[ctx.api]} is ${asked}; the policy of this key allows at most ${maxOutputTokens} output tokens`,
          400,
          MAX_OUTPUT_PARAM[ctx.api],
        );
      }
      if (asked === undefined) {
        chat.canonical = { ...chat.canonical, maxOutputTokens };
        // The forwarded body would not carry the cap: send the re-encoded request instead.
        chat.forceTranslate = true;
      }
    }
  }
}
