/**
 * triturus: end-to-end encryption for Matrix-style messaging, in pure TypeScript.
 * The default entry point: keys, errors, Olm and Megolm. Store backends and libolm
 * compatibility have their own subpaths.
 */
export {
  type CryptoBackend,
  cryptoBackend,
  type KeyCache,
  type RandomSource,
  setCryptoBackend,
  setRandomSource,
  warmUp,
} from './crypto/index.js';
export * from './errors.js';
export { Curve25519PublicKey, Ed25519PublicKey, Ed25519Signature } from './keys.js';
export * from './megolm/index.js';
export * from './olm/index.js';
export {
  generatePassphraseSalt,
  PASSPHRASE_KEY_DEFAULTS,
  PASSPHRASE_KEY_LIMITS,
  PASSPHRASE_SALT_MIN_LENGTH,
  type PassphraseKeyOptions,
  type PassphraseKeyParams,
  pickleKeyFromPassphrase,
} from './passphrase.js';
