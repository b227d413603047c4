// RFC 6238 TOTP (HMAC-SHA1, 30-second steps) for the tests: what an
// authenticator app shows for a base32 key. Self-checked against the RFC's
// SHA-1 test vector on import, so a broken helper cannot pass for a server bug.

import { createHmac } from 'node:crypto';
import assert from 'node:assert/strict';

export const STEP = 30;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Decodes RFC 4648 base32 (case, spaces and padding ignored). */
export function base32Decode(text) {
  const clean = text.toUpperCase().replace(/[\s=]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = ALPHABET.indexOf(ch);
    if (idx < 0) throw new Error(`not base32: ${JSON.stringify(ch)}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The step that holds `unixSeconds`. */
export function stepAt(unixSeconds = Date.now() / 1000) {
  return Math.floor(unixSeconds / STEP);
}

/** HOTP (RFC 4226) of `key` (bytes) at counter `step`, `digits` long. */
export function hotp(key, step, digits = 6) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** The code of a base32 `secret` for `step` (default: now). */
export function totp(secret, step = stepAt(), digits = 6) {
  return hotp(base32Decode(secret), step, digits);
}

// RFC 6238 appendix B, SHA-1: key "12345678901234567890", T = 59 s → 94287082.
{
  const key = Buffer.from('12345678901234567890', 'ascii');
  assert.equal(hotp(key, stepAt(59), 8), '94287082');
  assert.equal(hotp(key, stepAt(59), 6), '287082');
  assert.equal(hotp(key, stepAt(1111111109), 8), '07081804');
  // the same key through the base32 path (GEZDGNBVGY3TQOJQ… is its encoding)
  assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', stepAt(59)), '287082');
}
