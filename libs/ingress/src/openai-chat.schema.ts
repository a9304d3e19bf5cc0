import { z } from 'zod';
import { IngressError } from './ingress.error';

const contentPart = z.object({ type: z.string().min(1) }).passthrough();
const toolCall = z
  .object({
    id: z.string().min(1),
    type: z.literal('function'),
    function: z.object({ name: z.string().min(1), arguments: z.string() }).passthrough(),
  })
  .passthrough();

const message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
    content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
    name: z.string().optional(),
    tool_calls: z.array(toolCall).optional(),
    tool_call_id: z.string().optional(),
  })
  .passthrough()
  .superRefine((m, ctx) => {
    const hasContent = m.content !== undefined && m.content !== null && m.content !== '' && !(Array.isArray(m.content) && !m.content.length);
    if (m.role === 'assistant' ? !hasContent && !m.tool_calls?.length : !hasContent) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['content'], message: `a ${m.role} message needs content` });
    }
    if (m.role === 'tool' && !m.tool_call_id) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['tool_call_id'], message: 'a tool message needs tool_call_id' });
    }
  });

const tool = z
  .object({
    type: z.literal('function'),
    function: z
      .object({
        name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 characters of a-z, A-Z, 0-9, _ or -'),
        description: z.string().optional(),
        parameters: z.record(z.unknown()).optional(),
        strict: z.boolean().nullable().optional(),
      })
      .passthrough(),
  })
  .passthrough();

/** The OpenAI chat completions request, as strict as OpenAI on the fields ASC relies on. */
export const chatCompletionRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    messages: z.array(message).min(1, 'must contain at least one message'),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional(),
    max_tokens: z.number().int().positive().nullable().optional(),
    max_completion_tokens: z.number().int().positive().nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    n: z.number().int().min(1).max(1, 'ASC serves one choice per request').nullable().optional(),
    stop: z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional(),
    seed: z.number().int().nullable().optional(),
    user: z.string().max(256).optional(),
    tools: z.array(tool).max(128).optional(),
    tool_choice: z.union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function') }).passthrough()]).optional(),
    parallel_tool_calls: z.boolean().optional(),
    response_format: z.object({ type: z.enum(['text', 'json_object', 'json_schema']) }).passthrough().optional(),
  })
  .passthrough();

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

/** Parses a request body or throws a 400 naming the first offending field (OpenAI's `param`). */
export function parseChatCompletionRequest(body: unknown): ChatCompletionRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new IngressError('invalid_request', 'the request body must be a JSON object', 400);
  }
  const result = chatCompletionRequestSchema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const param = issue.path.reduce<string>(
    (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${part}` : String(part)),
    '',
  );
  const detail = issue.code === 'invalid_type' && issue.received === 'undefined' ? 'is required' : issue.message;
  throw new IngressError(issue.code === 'invalid_type' ? 'invalid_type' : 'invalid_value', `${param || 'body'}: ${detail}`, 400, param || undefined);
}
