/**
 * Settles a promise-returning call for the hostile-input suites: its value or its rejection, while a
 * synchronous throw or a call that does not settle within `ms` fails the run.
 */
export type Raw<T> = { readonly value: T } | { readonly error: unknown };

export async function settleRaw<T>(
  what: string,
  start: () => Promise<T>,
  ms: number,
  describeError: (error: unknown) => string,
): Promise<Raw<T>> {
  let promise: Promise<T>;
  try {
    promise = start();
  } catch (error) {
    throw new Error(`${what} threw synchronously (${describeError(error)}) instead of returning a rejected promise`);
  }
  const hung = Symbol('hung');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof hung>((resolve) => {
    timer = setTimeout(() => resolve(hung), ms);
  });
  let outcome: Raw<T> | typeof hung;
  try {
    outcome = await Promise.race([promise.then((value) => ({ value })), timeout]);
  } catch (error) {
    outcome = { error };
  } finally {
    clearTimeout(timer);
  }
  if (outcome === hung) throw new Error(`${what} did not settle within ${ms} ms`);
  return outcome;
}
