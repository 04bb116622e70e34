/**
 * The cross-implementation vector suite (vectors/*.json, made from libolm, matrix-sdk-crypto, the
 * Matrix specification and published Ed25519 lists): run on both crypto backends, since the `noble`
 * project includes test/crypto. The runner lives in test/vectors/runner.ts.
 */
import { defineVectorSuite } from '../vectors/runner.js';

defineVectorSuite();
