import { z } from 'zod';
import { OPERATIONS, PROVIDERS } from './entities/deployment.entity';

const TENANT_ID = /^[a-z0-9][a-z0-9_-]{1,62}$/;
const REGION = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const tenantIdSchema = z.string().regex(TENANT_ID, 'must be 2-63 chars of a-z, 0-9, "-" or "_"');

const usdPerMtok = z.number().finite().min(0).max(1_000_000);

/** A provider endpoint: http(s) only, and never with a credential in it (those live in secrets). */
const baseUrl = z
  .string()
  .max(2048)
  .url()
  .superRefine((value, ctx) => {
    if (!URL.canParse(value)) return; // already reported by .url()
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be an http or https URL' });
    } else if (url.username || url.password) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must not carry credentials: store them in the secrets service' });
    }
  });

const price = z
  .object({
    inputPerMtokUsd: usdPerMtok,
    outputPerMtokUsd: usdPerMtok,
    /** Defaults to the input price: never under-charge when a provider's discount is unknown. */
    cachedInputPerMtokUsd: usdPerMtok.optional(),
  })
  .strict();

const weight = z.number().int().min(0).max(1_000_000);
const priority = z.number().int().min(-1_000_000).max(1_000_000);
const operations = z.array(z.enum(OPERATIONS)).min(1).max(OPERATIONS.length);
const ms = z.number().int().min(1).max(3_600_000);
const timeouts = z.object({ connectMs: ms.optional(), ttftMs: ms.optional(), idleMs: ms.optional(), totalMs: ms.optional() }).strict();

export const createDeploymentSchema = z
  .object({
    tenantId: tenantIdSchema.nullish(),
    model: z.string().min(1).max(200).regex(/^\S+$/, 'must not contain whitespace'),
    provider: z.enum(PROVIDERS),
    upstreamModel: z.string().min(1).max(200),
    region: z.string().regex(REGION, 'must be a region name of a-z, 0-9 and "-", e.g. eu-west-1'),
    baseUrl,
    credentialId: z.string().min(1).max(200).nullish(),
    price,
    weight: weight.optional(),
    priority: priority.optional(),
    enabled: z.boolean().optional(),
    operations: operations.nullish(),
    timeouts: timeouts.nullish(),
  })
  .strict();

export const updateDeploymentSchema = z
  .object({
    enabled: z.boolean().optional(),
    weight: weight.optional(),
    priority: priority.optional(),
    price: price.partial().strict().optional(),
    operations: operations.nullish(),
    timeouts: timeouts.nullish(),
  })
  .strict()
  .refine((v) => Object.values(v).some((field) => field !== undefined), 'give at least one of enabled, weight, priority, price, operations, timeouts');

export const listDeploymentsQuery = z.object({ tenantId: tenantIdSchema.optional() });

export type CreateDeploymentInput = z.infer<typeof createDeploymentSchema>;
export type UpdateDeploymentInput = z.infer<typeof updateDeploymentSchema>;
