import { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import {
  buildInclusionProof,
  inclusionProofSchema,
  InclusionProof,
  parseExport,
  parsePublicKey,
  readTrailFromDatabase,
  verifyInclusionProof,
  verifyTrail,
} from '@asc/audit-proof';

export const USAGE = `asc-audit-verify: check an ASC audit trail offline, with only the public key.

Commands:
  verify --public-key FILE --export FILE [--tenant T] [--not-before ISO-TIME] [--json]
  verify --public-key FILE --database URL --tenant T [--allow-unsigned-tail] [--not-before ISO-TIME] [--json]
  prove  --public-key FILE --proof FILE [--json]
  prove  --public-key FILE --export FILE --request R [--json]

--public-key: the Ed25519 public key (PEM, or the JSON of GET /admin/v1/audit/public-key),
  obtained independently of the trail. --export: the JSON lines of
  GET /admin/v1/tenants/{tenant}/audit/export. --database: the audit database (read only).
--not-before: fail unless the newest checkpoint was signed at or after this time (detects
  a trail cut off together with its last checkpoints).
Exit status: 0 valid, 1 tampered or unproven, 2 usage or input error.
`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

class UsageError extends Error {}

function readPublicKey(path: string): KeyObject {
  const text = readFileSync(path, 'utf8');
  const pem = text.trimStart().startsWith('{') ? String((JSON.parse(text) as { publicKeyPem?: unknown }).publicKeyPem ?? '') : text;
  return parsePublicKey(pem);
}

/** Runs one command; returns the exit status. */
export async function runAuditVerify(argv: string[], io: CliIo): Promise<number> {
  try {
    return await run(argv, io);
  } catch (err) {
    io.err(`error: ${(err as Error).message}`);
    if (err instanceof UsageError) io.err(USAGE);
    return 2;
  }
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    io.out(USAGE);
    return command ? 0 : 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        'public-key': { type: 'string' },
        export: { type: 'string' },
        database: { type: 'string' },
        tenant: { type: 'string' },
        proof: { type: 'string' },
        request: { type: 'string' },
        'not-before': { type: 'string' },
        'allow-unsigned-tail': { type: 'boolean' },
        json: { type: 'boolean' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (!v['public-key']) throw new UsageError('--public-key is required');
  const publicKey = readPublicKey(v['public-key']);

  if (command === 'verify') {
    let notBefore: Date | undefined;
    if (v['not-before']) {
      notBefore = new Date(v['not-before']);
      if (Number.isNaN(notBefore.getTime())) throw new UsageError('--not-before must be an ISO-8601 time');
    }
    let tenantId: string;
    let trail: Pick<ReturnType<typeof parseExport>, 'entries' | 'checkpoints'>;
    if (v.export && !v.database) {
      const exp = parseExport(readFileSync(v.export, 'utf8'));
      if (v.tenant && v.tenant !== exp.header.tenantId) throw new UsageError(`the export is of tenant ${exp.header.tenantId}, not ${v.tenant}`);
      tenantId = v.tenant ?? exp.header.tenantId;
      trail = exp;
    } else if (v.database && !v.export) {
      if (!v.tenant) throw new UsageError('--tenant is required with --database');
      tenantId = v.tenant;
      const client = new Client({ connectionString: v.database });
      await client.connect();
      try {
        trail = await readTrailFromDatabase(client, tenantId);
      } finally {
        await client.end();
      }
    } else {
      throw new UsageError('give exactly one of --export or --database');
    }
    const result = verifyTrail({ tenantId, ...trail, publicKey, allowUnsignedTail: Boolean(v['allow-unsigned-tail']), notBefore });
    if (v.json) io.out(JSON.stringify({ tenantId, ...result }));
    else {
      io.out(`${result.ok ? 'VALID' : 'INVALID'}: tenant ${tenantId}, ${result.records} records, ${result.checkpoints} checkpoints, signed through record ${result.signedThrough}${result.lastSignedAt ? ` (last checkpoint ${result.lastSignedAt})` : ''}`);
      for (const p of result.problems) io.out(`  ${p.code}: ${p.message}`);
    }
    return result.ok ? 0 : 1;
  }

  if (command === 'prove') {
    let proof: InclusionProof;
    if (v.proof) {
      const r = inclusionProofSchema.safeParse(JSON.parse(readFileSync(v.proof, 'utf8')));
      if (!r.success) throw new Error(`${v.proof} is not an inclusion proof (${r.error.issues.map((i) => i.path.join('.')).join(', ')})`);
      proof = r.data;
    } else if (v.export && v.request) {
      const exp = parseExport(readFileSync(v.export, 'utf8'));
      const entry = exp.entries.find((e) => e.requestId === v.request);
      if (!entry) {
        io.out(`NOT FOUND: no record of request ${v.request} in the export`);
        return 1;
      }
      const checkpoint = exp.checkpoints.find((c) => c.fromSeq <= entry.seq && entry.seq <= c.toSeq);
      if (!checkpoint) {
        io.out(`UNPROVEN: record ${entry.seq} is not covered by a checkpoint`);
        return 1;
      }
      proof = buildInclusionProof(entry, checkpoint, exp.entries.filter((e) => e.seq >= checkpoint.fromSeq && e.seq <= checkpoint.toSeq));
    } else {
      throw new UsageError('give --proof, or --export with --request');
    }
    const result = verifyInclusionProof(proof, publicKey);
    if (v.json) io.out(JSON.stringify({ ...result, proof }));
    else {
      io.out(`${result.ok ? 'PROVEN' : 'NOT PROVEN'}: request ${proof.entry.requestId} is record ${proof.entry.seq} of tenant ${proof.entry.tenantId}, checkpoint ${proof.checkpoint.checkpointSeq} signed ${proof.checkpoint.signedAt}`);
      for (const p of result.problems) io.out(`  ${p}`);
    }
    return result.ok ? 0 : 1;
  }
  throw new UsageError(`unknown command ${command}`);
}
