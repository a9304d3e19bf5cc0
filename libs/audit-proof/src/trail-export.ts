import { z } from 'zod';
import { AuditEntry } from './audit-entry';
import { JsonValue } from './canonical-json';
import { SignedCheckpoint } from './checkpoint';

/** Format tag on the first line of an export. */
export const EXPORT_FORMAT = 'asc-audit-export/1';

/** First line of an export. The public key in it is informative: verify with a key obtained independently. */
export interface ExportHeader {
  type: 'header';
  format: typeof EXPORT_FORMAT;
  tenantId: string;
  exportedAt: string;
  keyId: string;
  publicKeyPem: string;
}

export interface TrailExport {
  header: ExportHeader;
  entries: AuditEntry[];
  checkpoints: SignedCheckpoint[];
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const seq = z.number().int().positive();
const json: z.ZodType<JsonValue> = z.lazy(() => z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(json), z.record(json)]));

const headerSchema = z.object({
  type: z.literal('header'),
  format: z.literal(EXPORT_FORMAT),
  tenantId: z.string().min(1),
  exportedAt: z.string(),
  keyId: z.string(),
  publicKeyPem: z.string(),
});

const entrySchema = z.object({
  tenantId: z.string().min(1),
  seq,
  prevHash: hex64,
  eventId: z.string(),
  kind: z.enum(['request', 'admin_change']),
  occurredAt: z.string(),
  requestId: z.string(),
  fields: z.record(json),
  hash: hex64,
});

export const checkpointSchema = z.object({
  tenantId: z.string().min(1),
  checkpointSeq: seq,
  fromSeq: seq,
  toSeq: seq,
  recordCount: seq,
  merkleRoot: hex64,
  chainHead: hex64,
  prevCheckpointHash: hex64,
  signedAt: z.string(),
  keyId: z.string(),
  signature: z.string(),
});

export const inclusionProofSchema = z.object({
  entry: entrySchema,
  leafIndex: z.number().int().nonnegative(),
  treeSize: seq,
  auditPath: z.array(hex64),
  checkpoint: checkpointSchema,
});

/** Writes an export as JSON lines: the header, every record in chain order, then every checkpoint. */
export function formatExport(exp: TrailExport): string {
  const lines = [
    JSON.stringify(exp.header),
    ...exp.entries.map((e) => JSON.stringify({ type: 'record', ...e })),
    ...exp.checkpoints.map((c) => JSON.stringify({ type: 'checkpoint', ...c })),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Reads an export. Records and checkpoints keep the order of the file (the verifier judges
 * that order); a malformed line is an error naming its line number.
 */
export function parseExport(text: string): TrailExport {
  let header: ExportHeader | undefined;
  const entries: AuditEntry[] = [];
  const checkpoints: SignedCheckpoint[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1}: not JSON`);
    }
    const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
    const fail = (e: z.ZodError) => new Error(`line ${i + 1}: invalid ${String(type)} (${e.issues.map((x) => x.path.join('.') || '(root)').join(', ')})`);
    if (type === 'header') {
      if (header) throw new Error(`line ${i + 1}: a second header`);
      const r = headerSchema.safeParse(value);
      if (!r.success) throw fail(r.error);
      header = r.data;
    } else if (type === 'record') {
      const r = entrySchema.safeParse(value);
      if (!r.success) throw fail(r.error);
      entries.push(r.data);
    } else if (type === 'checkpoint') {
      const r = checkpointSchema.safeParse(value);
      if (!r.success) throw fail(r.error);
      checkpoints.push(r.data);
    } else {
      throw new Error(`line ${i + 1}: unknown line type ${String(type)}`);
    }
  });
  if (!header) throw new Error('no header line: not an ASC audit export');
  return { header, entries, checkpoints };
}
