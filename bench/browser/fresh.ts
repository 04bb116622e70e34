/**
 * A fresh page's first Megolm decrypt with triturus: the bundle's first line (an esbuild banner) records
 * `performance.now()` in `globalThis.benchStart`; this module then creates an inbound session from the
 * session key the page gives and decrypts one message. Module evaluation of the whole bundle counts.
 * `?mode=seam` runs both calls through `withPlatformCrypto`; `?mode=sync` calls them directly (noble).
 */
import { InboundGroupSession, MegolmMessage, SessionKey } from 'triturus';
import { withPlatformCrypto } from './seam.js';

interface FreshGlobals {
  benchStart: number;
  benchFixture: { sessionKey: string; message: string };
  benchDone?: { ms: number; sinceNavigation: number; moduleMs: number; plaintext: string };
}

const g = globalThis as unknown as FreshGlobals;
// The entry module's body runs after every bundled module's top-level code: the time to here is module evaluation.
const moduleMs = performance.now() - g.benchStart;
const { sessionKey, message } = g.benchFixture;
const decrypt = () =>
  InboundGroupSession.fromSessionKey(SessionKey.fromBase64(sessionKey)).decryptText(MegolmMessage.fromBase64(message));
const seam = new URLSearchParams(location.search).get('mode') === 'seam';
const decrypted = seam ? await withPlatformCrypto(decrypt) : decrypt();
const end = performance.now();
g.benchDone = {
  ms: end - g.benchStart,
  sinceNavigation: end,
  moduleMs,
  plaintext: decrypted.plaintext,
};
