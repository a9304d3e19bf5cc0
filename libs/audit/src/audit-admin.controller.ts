import { BadRequestException, Controller, Get, NotFoundException, Param, Query, StreamableFile, UseGuards } from '@nestjs/common';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { AdminGuard } from '@asc/service-kit';
import { AuditTrailService } from './audit-trail.service';

const listQuery = z.object({ requestId: z.string().optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) });
const limitQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });
const proofQuery = z.object({ requestId: z.string().min(1) });
const instant = z.string().datetime({ offset: true }).transform((s) => new Date(s));
const usageQuery = z
  .object({
    tenantId: z.string().min(1).optional(),
    from: instant.optional(),
    to: instant.optional(),
    /** "At time T": what was used in the `withinSeconds` up to T (rows carry first/last use). */
    at: instant.optional(),
    withinSeconds: z.coerce.number().int().min(1).max(31 * 86_400).default(3_600),
    credentialId: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    keyId: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(10_000).default(1_000),
  })
  .strict();

/** Operator API: the audit trail, its signed checkpoints, proofs, export and the point-in-time question. */
@Controller('admin/v1')
@UseGuards(AdminGuard)
export class AuditAdminController {
  constructor(private readonly trail: AuditTrailService) {}

  @Get('tenants/:tenantId/audit')
  async list(@Param('tenantId') tenantId: string, @Query() query: unknown) {
    const { requestId, limit } = listQuery.parse(query ?? {});
    return { tenantId, records: await this.trail.list(tenantId, { requestId, limit }) };
  }

  /** Admin changes of a tenant; tenant '*' is the platform chain (deployments, credentials). */
  @Get('tenants/:tenantId/audit/admin-changes')
  async adminChanges(@Param('tenantId') tenantId: string, @Query() query: unknown) {
    return { tenantId, records: await this.trail.adminChanges(tenantId, limitQuery.parse(query ?? {}).limit) };
  }

  @Get('tenants/:tenantId/audit/checkpoints')
  async checkpoints(@Param('tenantId') tenantId: string, @Query() query: unknown) {
    return { tenantId, checkpoints: await this.trail.checkpoints(tenantId, limitQuery.parse(query ?? {})) };
  }

  /** RFC 6962 inclusion proof of a request's record against a signed checkpoint. */
  @Get('tenants/:tenantId/audit/proof')
  async proof(@Param('tenantId') tenantId: string, @Query() query: unknown) {
    const { requestId } = proofQuery.parse(query ?? {});
    const proof = await this.trail.proveRequest(tenantId, requestId);
    if (!proof) throw new NotFoundException({ error: { code: 'not_found', message: `no audit record for request ${requestId} of tenant ${tenantId}` } });
    return proof;
  }

  /** The tenant's trail as JSON lines (header, records, checkpoints) for tools/audit-verify. */
  @Get('tenants/:tenantId/audit/export')
  export(@Param('tenantId') tenantId: string): StreamableFile {
    return new StreamableFile(Readable.from(this.trail.exportLines(tenantId)), {
      type: 'application/x-ndjson',
      disposition: `attachment; filename="audit-${encodeURIComponent(tenantId)}.jsonl"`,
    });
  }

  /** The Ed25519 key checkpoints are verified with. */
  @Get('audit/public-key')
  publicKey() {
    return this.trail.publicKey();
  }

  /** Which tenant used which model, through which deployment, credential (id, version), policy and routing version, in [from, to] or at T. */
  @Get('audit/usage')
  async usage(@Query() query: unknown) {
    const q = usageQuery.parse(query ?? {});
    let { from, to } = q;
    if (q.at) {
      if (from || to) throw new BadRequestException({ error: { code: 'invalid_request', message: 'at: give either at or from/to', param: 'at' } });
      to = q.at;
      from = new Date(q.at.getTime() - q.withinSeconds * 1000);
    }
    if (!from || !to) throw new BadRequestException({ error: { code: 'invalid_request', message: 'from: from and to (or at) are required', param: from ? 'to' : 'from' } });
    if (from > to) throw new BadRequestException({ error: { code: 'invalid_request', message: 'from: must not be after to', param: 'from' } });
    const rows = await this.trail.usage({ from, to, tenantId: q.tenantId, credentialId: q.credentialId, model: q.model, keyId: q.keyId, limit: q.limit });
    return { from: from.toISOString(), to: to.toISOString(), rows };
  }
}
