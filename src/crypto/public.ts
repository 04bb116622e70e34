/**
 * triturus/crypto: choosing the crypto backend. The backends themselves are their own subpaths, so
 * that importing one never loads the other's dependencies:
 *
 *   import { nodeBackend } from 'triturus/crypto/node';    // node:crypto (OpenSSL): Node, Bun, Deno
 *   import { nobleBackend } from 'triturus/crypto/noble';  // @noble/*: pure JavaScript, runs everywhere
 *   import { setCryptoBackend } from 'triturus/crypto';
 *   setCryptoBackend(nobleBackend);
 *
 * Without a call, the package's export conditions choose: `node` under Node (and Bun, Deno), noble
 * elsewhere. Switching affects later operations only; keys made under one backend work under the other.
 */
export { type CryptoBackend, cryptoBackend, type KeyCache, setCryptoBackend, warmUp } from './index.js';
export {
  type PlatformCryptoSupport,
  platformCrypto,
  setPlatformCrypto,
  withPlatformCrypto,
} from './platform.js';
