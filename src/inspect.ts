/**
 * Node's `util.inspect` hook. Secret-holding classes call `redactInspect(this)` from a static block
 * so that `util.inspect` prints their (redacted) `toString()`. Installed on the prototype rather than
 * declared as a computed method: the declarations stay emittable under isolatedDeclarations. Other
 * runtimes ignore the symbol.
 *
 * A static block keeps its class in every bundle that loads the module. Classes that a program may
 * leave unused write `static readonly #redacted: boolean = /* @__PURE__ *\/ redactInspect(this);`
 * instead, which a bundler drops together with an unused class.
 */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

export function redactInspect(cls: { readonly prototype: { toString(): string } }): true {
  Object.defineProperty(cls.prototype, INSPECT, {
    value(this: { toString(): string }): string {
      return this.toString();
    },
    enumerable: false,
    configurable: true,
    writable: true,
  });
  return true;
}
