import { randomFillSync } from 'node:crypto';

// Random bytes are drawn in pools: one syscall per 256 ids keeps publish() cheap on the request path.
const POOL_IDS = 256;
const pool = Buffer.alloc(16 * POOL_IDS);
let poolOffset = pool.length;

let lastMs = -1;
let counter = 0;

function randomBytes16(): Buffer {
  if (poolOffset >= pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = Buffer.from(pool.subarray(poolOffset, poolOffset + 16));
  poolOffset += 16;
  return bytes;
}

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits from the CSPRNG.
 * Ids sort by creation time, which keeps Postgres/ClickHouse indexes append-mostly
 * (crypto.randomUUID is v4: random order). Within one millisecond the 12-bit rand_a
 * field is a counter seeded at random (RFC 9562 method 1), so ids from this process stay
 * strictly increasing; if it overflows, or the clock steps back, the timestamp is carried
 * forward instead of going backwards.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  const bytes = randomBytes16();
  if (nowMs > lastMs) {
    lastMs = nowMs;
    counter = bytes.readUInt16BE(6) & 0x7ff; // leave headroom above the seed before it overflows
  } else if (++counter > 0xfff) {
    lastMs += 1;
    counter = bytes.readUInt16BE(6) & 0x7ff;
  }
  const ms = lastMs;
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (bytes[8] & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The Unix milliseconds a UUIDv7 was minted at (undefined for other versions). */
export function uuidv7Time(id: string): number | undefined {
  const hex = id.replace(/-/g, '');
  if (hex.length !== 32 || hex[12] !== '7') return undefined;
  return Number.parseInt(hex.slice(0, 12), 16);
}
