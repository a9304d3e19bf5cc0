import { z } from 'zod';
import { CREDENTIAL_PROVIDERS } from './entities/credential.entity';

const TENANT_ID = /^[a-z0-9][a-z0-9_-]{1,62}$/;
const tenantId = z.string().regex(TENANT_ID, 'must be 2-63 chars of a-z, 0-9, "-" or "_"');

/** Every message is fixed text: a rejected secret is never echoed back or logged. */
const secret = z
  .string({ required_error: 'is required', invalid_type_error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(16_384, 'must be at most 16384 characters');

export const createCredentialSchema = z
  .object({
    name: z.string().min(1).max(200),
    provider: z.enum(CREDENTIAL_PROVIDERS),
    secret,
    tenantId: tenantId.nullish(),
  })
  .strict();

export const rotateCredentialSchema = z.object({ secret }).strict();

export const listCredentialsQuery = z.object({ tenantId: tenantId.optional() });
