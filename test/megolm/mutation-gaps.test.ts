/**
 * Gaps found by mutation testing (test/MUTATION.md) in Megolm key-export files.
 *
 * decryptKeyExport refuses files asking for more than KEY_EXPORT_MAX_ROUNDS (5 000 000) PBKDF2
 * rounds, so that a hostile file cannot burn minutes of CPU. The only test used 2^32 - 1 rounds:
 * raising the cap a hundredfold passed every test. These pin the boundary without running 5 000 000
 * rounds: the progress callback throws at its first report, which proves the work was accepted and
 * started (and with how many rounds), and a refusal must come before any work.
 */
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/errors.js';
import { decryptKeyExport, KEY_EXPORT_MAX_ROUNDS } from '../../src/megolm/export.js';

/** A key-export file (Matrix spec, "Key exports") asking for `rounds`; the rest is filler. */
function fileAsking(rounds: number): string {
  const bytes = new Uint8Array(1 + 16 + 16 + 4 + 32 + 32);
  bytes[0] = 1; // version
  new DataView(bytes.buffer).setUint32(33, rounds);
  bytes.fill(0xab, 37); // ciphertext and MAC: never reached in these tests
  return `-----BEGIN MEGOLM SESSION DATA-----\n${Buffer.from(bytes).toString('base64')}\n-----END MEGOLM SESSION DATA-----\n`;
}

class StopWork extends Error {}

/** Decrypts with a progress callback that stops the PBKDF2 work at its first report. */
async function attempt(rounds: number, options: { maxRounds?: number } = {}) {
  const reports: [number, number][] = [];
  let error: unknown;
  try {
    await decryptKeyExport(fileAsking(rounds), 'passphrase', {
      ...options,
      onProgress: (done, total) => {
        reports.push([done, total]);
        throw new StopWork();
      },
    });
  } catch (e) {
    error = e;
  }
  return { reports, error };
}

describe('the cap on PBKDF2 rounds in an imported key-export file', () => {
  it('is 5 000 000 by default', () => {
    expect(KEY_EXPORT_MAX_ROUNDS).toBe(5_000_000);
  });

  it('accepts exactly 5 000 000 rounds: the work starts with that total', async () => {
    const { reports, error } = await attempt(5_000_000);
    expect(error).toBeInstanceOf(StopWork);
    expect(reports).toHaveLength(1);
    expect(reports[0]![1]).toBe(5_000_000);
    expect(reports[0]![0]).toBeGreaterThan(0);
    expect(reports[0]![0]).toBeLessThan(5_000_000);
  });

  it('refuses 5 000 001 rounds before any work (KEY_EXPORT_MALFORMED, naming both numbers)', async () => {
    const { reports, error } = await attempt(5_000_001);
    expect(reports).toEqual([]);
    expect(error).toBeInstanceOf(DecodeError);
    expect((error as DecodeError).code).toBe('KEY_EXPORT_MALFORMED');
    expect(error).toMatchObject({ details: { actual: 5_000_001, expected: 5_000_000 } });
  });

  it('the maxRounds option moves the boundary both ways', async () => {
    expect((await attempt(1001, { maxRounds: 1000 })).error).toBeInstanceOf(DecodeError);
    expect((await attempt(1000, { maxRounds: 1000 })).error).toBeInstanceOf(StopWork);
    expect((await attempt(6_000_000, { maxRounds: 6_000_000 })).error).toBeInstanceOf(StopWork);
    expect((await attempt(6_000_001, { maxRounds: 6_000_000 })).reports).toEqual([]);
  });
});
