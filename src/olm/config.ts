import { invalidArgument } from '../errors.js';
import { MESSAGE_VERSION_V1, MESSAGE_VERSION_V2 } from './messages.js';

/**
 * The Olm protocol version a session speaks. Version 1 is the Matrix specification (8-byte
 * truncated MACs) and the default; version 2 (vodozemac's extension) uses the full 32-byte MAC.
 */
export class SessionConfig {
  /** Only the two configs exist: anything else (Object.create of the prototype, a Proxy) is refused. */
  static [Symbol.hasInstance](value: unknown): value is SessionConfig {
    return value === V1 || value === V2;
  }

  readonly version: 1 | 2;

  private constructor(version: 1 | 2) {
    this.version = version;
  }

  static version1(): SessionConfig {
    return V1;
  }

  static version2(): SessionConfig {
    return V2;
  }

  /** @internal */
  static fromVersion(version: number): SessionConfig {
    if (version === 1) return V1;
    if (version === 2) return V2;
    throw invalidArgument('Olm session config version must be 1 or 2', { actual: version });
  }

  /** The version byte of normal messages this config sends. */
  get messageVersion(): number {
    return this.version === 2 ? MESSAGE_VERSION_V2 : MESSAGE_VERSION_V1;
  }

  get macLength(): number {
    return this.version === 2 ? 32 : 8;
  }

  toString(): string {
    return `SessionConfig(version ${this.version})`;
  }
}

const V1 = new (SessionConfig as unknown as new (v: 1 | 2) => SessionConfig)(1);
const V2 = new (SessionConfig as unknown as new (v: 1 | 2) => SessionConfig)(2);
