/**
 * The same first decrypt with libolm (for information): from the bundle's first line, the WASM module
 * fetched and instantiated, an inbound session created from the page's session key, one message decrypted.
 */
import Olm from '@towns-protocol/olm';

interface FreshGlobals {
  benchStart: number;
  benchFixture: { sessionKey: string; message: string };
  benchDone?: { ms: number; sinceNavigation: number; moduleMs: number; plaintext: string };
}

const g = globalThis as unknown as FreshGlobals;
const moduleMs = performance.now() - g.benchStart;
const olm = await Olm.initAsync({ locateFile: () => '/olm.wasm' });
const inbound = new olm.InboundGroupSession();
inbound.create(g.benchFixture.sessionKey);
const { plaintext } = inbound.decrypt(g.benchFixture.message);
const end = performance.now();
inbound.free();
g.benchDone = { ms: end - g.benchStart, sinceNavigation: end, moduleMs, plaintext };
