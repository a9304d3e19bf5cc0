export { canonicalJson, canonicalObjectJson } from './canonical-json';
export type { JsonValue } from './canonical-json';
export { chainEntries, entryBytes, GENESIS_HASH, hashEntry, PLATFORM_CHAIN } from './audit-entry';
export type { AuditEntry, AuditEntryKind, UnhashedEntry } from './audit-entry';
export {
  checkpointHash,
  checkpointSignatureValid,
  GENESIS_CHECKPOINT_HASH,
  merkleRootOf,
  parsePrivateKey,
  parsePublicKey,
  publicKeyId,
  signCheckpoint,
} from './checkpoint';
export type { CheckpointBody, SignedCheckpoint } from './checkpoint';
export { auditPath, leafHash, merkleRoot, rootFromAuditPath } from './merkle-tree';
export { buildInclusionProof, verifyInclusionProof } from './inclusion-proof';
export type { InclusionProof, VerifyProofResult } from './inclusion-proof';
export { verifyTrail } from './trail-verifier';
export type { TrailProblem, TrailProblemCode, VerifyTrailInput, VerifyTrailResult } from './trail-verifier';
export { checkpointSchema, EXPORT_FORMAT, formatExport, inclusionProofSchema, parseExport } from './trail-export';
export type { ExportHeader, TrailExport } from './trail-export';
export { readTrailFromDatabase, requestFields, rowToCheckpoint, rowToEntry } from './audit-rows';
export type { CheckpointRow, RecordRow, SqlQueryable } from './audit-rows';
