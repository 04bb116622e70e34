import { invalidArgument } from '../errors.js';

/** Message version bytes: 3 is the Matrix specification, 4 vodozemac's full-MAC variant. */
export const MEGOLM_VERSION_V1 = 3;
export const MEGOLM_VERSION_V2 = 4;

/**
 * The Megolm protocol version a session speaks. Version 1 is the Matrix specification (messages
 * with version byte 3 and an 8-byte truncated MAC) and the default; version 2 (vodozemac's
 * `SessionConfig::version_2`) uses version byte 4 and the full 32-byte HMAC-SHA256. The session
 * key formats are the same for both, so both ends must agree on the version out of band.
 */
export class MegolmSessionConfig {
  /** Only the two configs exist: anything else (Object.create of the prototype, a Proxy) is refused. */
  static [Symbol.hasInstance](value: unknown): value is MegolmSessionConfig {
    return value === V1 || value === V2;
  }

  readonly version: 1 | 2;

  private constructor(version: 1 | 2) {
    this.version = version;
  }

  static version1(): MegolmSessionConfig {
    return V1;
  }

  static version2(): MegolmSessionConfig {
    return V2;
  }

  /** @internal */
  static fromVersion(version: number): MegolmSessionConfig {
    if (version === 1) return V1;
    if (version === 2) return V2;
    throw invalidArgument('Megolm session config version must be 1 or 2', { actual: version });
  }

  /** The version byte of the messages this config sends and accepts. */
  get messageVersion(): number {
    return this.version === 2 ? MEGOLM_VERSION_V2 : MEGOLM_VERSION_V1;
  }

  get macLength(): number {
    return this.version === 2 ? 32 : 8;
  }

  toString(): string {
    return `MegolmSessionConfig(version ${this.version})`;
  }
}

const V1 = new (MegolmSessionConfig as unknown as new (v: 1 | 2) => MegolmSessionConfig)(1);
const V2 = new (MegolmSessionConfig as unknown as new (v: 1 | 2) => MegolmSessionConfig)(2);

export function checkConfig(config: unknown): MegolmSessionConfig {
  if (!(config instanceof MegolmSessionConfig)) throw invalidArgument('config must be a MegolmSessionConfig');
  return config;
}
