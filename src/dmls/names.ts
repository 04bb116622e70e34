/**
 * DMLS names that cost nothing to load (no ts-mls): the suites triturus offers and the algorithm
 * names of MSC2883. The Device reads these on every room event; the engine loads only when used.
 */

export const DMLS_SUITES = {
  MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: 1,
  MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519: 3,
} as const;
export type DmlsSuiteName = keyof typeof DMLS_SUITES;
export const DEFAULT_SUITE: DmlsSuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

export function isDmlsSuite(name: unknown): name is DmlsSuiteName {
  return typeof name === 'string' && Object.hasOwn(DMLS_SUITES, name);
}

export const ALGORITHM_PREFIX = 'm.dmls.v1.';
const WELCOME_PREFIXES = ['m.dmls.v1.welcome.', 'm.mls.v1.welcome.'];

export function algorithmOf(suite: DmlsSuiteName): string {
  return `${ALGORITHM_PREFIX}${suite}`;
}
export function welcomeAlgorithmOf(suite: DmlsSuiteName): string {
  return `m.dmls.v1.welcome.${suite}`;
}

/** The suite of a room algorithm `m.dmls.v1.<suite>`, or undefined. */
export function suiteOfAlgorithm(algorithm: unknown): DmlsSuiteName | undefined {
  if (typeof algorithm !== 'string' || !algorithm.startsWith(ALGORITHM_PREFIX)) return undefined;
  const suite = algorithm.slice(ALGORITHM_PREFIX.length);
  return isDmlsSuite(suite) ? suite : undefined;
}

/** The suite of a welcome algorithm (`m.dmls.v1.welcome.<suite>` or `m.mls.v1.welcome.<suite>`). */
export function suiteOfWelcomeAlgorithm(algorithm: unknown): DmlsSuiteName | undefined {
  if (typeof algorithm !== 'string') return undefined;
  for (const p of WELCOME_PREFIXES) {
    if (algorithm.startsWith(p)) {
      const suite = algorithm.slice(p.length);
      return isDmlsSuite(suite) ? suite : undefined;
    }
  }
  return undefined;
}
