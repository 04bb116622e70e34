/**
 * The WebCrypto seam of `triturus/crypto` (`withPlatformCrypto`, `platformCrypto`), when the package
 * has it; otherwise a shim that runs the call synchronously on the active backend (noble in a page),
 * so that the benchmark runs either way and its rows say which path ran.
 */
import * as tcrypto from 'triturus/crypto';

interface Seam {
  readonly withPlatformCrypto?: <T>(fn: () => T) => Promise<T>;
  readonly platformCrypto?: () => Promise<{ ed25519: boolean; x25519: boolean }>;
}

// Read through an index, so that the bundle builds against a triturus without the seam.
const seam = tcrypto as unknown as Seam;

export const seamPresent: boolean = typeof seam.withPlatformCrypto === 'function';

export const withPlatformCrypto: <T>(fn: () => T) => Promise<T> = seam.withPlatformCrypto ?? (async (fn) => fn());

/** Which curve operations the seam runs on WebCrypto here; undefined without the seam. */
export async function platformCrypto(): Promise<{ ed25519: boolean; x25519: boolean } | undefined> {
  return seam.platformCrypto?.();
}
