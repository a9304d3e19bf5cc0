// Deterministic unit-length embeddings: the same text always maps to the same vector.

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A unit vector derived from the text, rounded to 8 decimals like provider JSON output. */
export function embedText(text: string, dims: number): number[] {
  let state = fnv1a(text) || 1;
  const raw = new Array<number>(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const v = ((state >>> 0) / 0xffffffff) * 2 - 1;
    raw[i] = v;
    norm += v * v;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < dims; i++) raw[i] = Math.round(raw[i] * scale * 1e8) / 1e8;
  return raw;
}

/** Little-endian float32 bytes in base64, as OpenAI sends with encoding_format=base64. */
export function toBase64Float32(vector: number[]): string {
  const buf = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) buf.writeFloatLE(vector[i], i * 4);
  return buf.toString('base64');
}
