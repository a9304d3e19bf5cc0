import { randomBytes } from 'node:crypto';

// Ids only need to look like the provider's and be unique; a pooled random buffer keeps
// them cheap at thousands of requests per second.
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';
let pool = randomBytes(8192);
let offset = 0;

function nextByte(): number {
  if (offset >= pool.length) {
    pool = randomBytes(8192);
    offset = 0;
  }
  return pool[offset++];
}

/** Random [A-Za-z0-9] string (modulo bias is irrelevant here). */
export function alnum(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALNUM[nextByte() % 62];
  return s;
}

export function hex(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += HEX[nextByte() & 15];
  return s;
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
