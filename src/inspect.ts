/**
 * Node's `util.inspect` hook. Secret-holding classes call `redactInspect(this)` from a static block
 * so that `util.inspect` prints their (redacted) `toString()`. Installed on the prototype rather than
 * declared as a computed method: the declarations stay emittable under isolatedDeclarations. Other
 * runtimes ignore the symbol.
 */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

export function redactInspect(cls: { readonly prototype: { toString(): string } }): void {
  Object.defineProperty(cls.prototype, INSPECT, {
    value(this: { toString(): string }): string {
      return this.toString();
    },
    enumerable: false,
    configurable: true,
    writable: true,
  });
}
