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

// Read as plain property accesses (the cast is erased), so that the bundle builds against a triturus
// without the seam; the namespace object itself must not escape, or the bundler keeps every export.
const withSeam = (tcrypto as unknown as Seam).withPlatformCrypto;
const detect = (tcrypto as unknown as Seam).platformCrypto;

export const seamPresent: boolean = typeof withSeam === 'function';

export const withPlatformCrypto: <T>(fn: () => T) => Promise<T> = withSeam ?? (async (fn) => fn());

/** Which curve operations the seam runs on WebCrypto here; undefined without the seam. */
export async function platformCrypto(): Promise<{ ed25519: boolean; x25519: boolean } | undefined> {
  return detect?.();
}
