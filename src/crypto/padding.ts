/**
 * Checks PKCS#7 padding on a decrypted buffer whose length is a positive multiple of 16.
 * Returns the unpadded length, or -1 when any padding byte is wrong. Every one of the last
 * 16 bytes is inspected whatever the pad length, so timing does not reveal where it failed.
 */
export function checkPkcs7(padded: Uint8Array): number {
  const length = padded.length;
  if (length === 0 || length % 16 !== 0) return -1;
  const pad = padded[length - 1]!;
  // bad != 0 when pad is 0 or greater than 16.
  let bad = ((pad - 1) >>> 8) & 1;
  bad |= ((16 - pad) >>> 31) & 1;
  for (let i = 1; i <= 16; i++) {
    const b = padded[length - i]!;
    // For positions inside the padding (i <= pad), the byte must equal pad.
    const inside = ((i - pad - 1) >>> 31) & 1;
    // ((x + 0xff) >>> 8) is 1 for a non-zero byte x and 0 for zero, without a branch.
    bad |= inside & (((b ^ pad) + 0xff) >>> 8);
  }
  return bad === 0 ? length - pad : -1;
}
