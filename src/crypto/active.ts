/**
 * The crypto layer's module state, shared by the facade (index.ts) and the curve keys (curves.ts):
 * the installed backend (undefined while the default one is in use) and the curve interceptor.
 * Read through the live bindings `active` and `interceptor`; written only through the setters.
 */

import type { CryptoBackend, KeyCache } from './backend.js';

// Undefined while the default backend is in use: calls then go to its named exports one by one
// (`defaultBackend.sha512(...)`), so a bundler keeps only the primitives a program reaches.
export let active: CryptoBackend | undefined;

/** @internal Installs `backend` (undefined for the default); `setCryptoBackend` validates it first. */
export function setActive(backend: CryptoBackend | undefined): void {
  active = backend;
}

/** The curve operations the platform seam can take over, with their inputs. */
export type CurveOperation = 'verify' | 'sign' | 'dh' | 'public';
/**
 * Called instead of the backend for the curve operations while set; `compute` is the backend's own
 * answer. Internal: set by `withPlatformCrypto` around a synchronous call, never across a turn.
 */
export type CurveInterceptor = (
  operation: CurveOperation,
  inputs: Uint8Array[],
  cache: KeyCache,
  compute: () => unknown,
) => unknown;
export let interceptor: CurveInterceptor | undefined;

/** @internal */
export function setCurveInterceptor(value: CurveInterceptor | undefined): void {
  interceptor = value;
}
