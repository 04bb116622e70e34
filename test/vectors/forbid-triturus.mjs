/**
 * Loaded with `node --import` in front of triturus-vectors in --oracle mode (test/vectors/cli.test.ts):
 * makes loading triturus (by its package name or any file under src/ or dist/) throw, so a run that
 * passes proves the runner judged the oracle without importing the code under test.
 */
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier === 'triturus' || specifier.startsWith('triturus/')) {
    throw new Error('forbid-triturus: something imported ' + specifier);
  }
  const result = await next(specifier, context);
  if (/\\/(src|dist)\\//.test(result.url)) throw new Error('forbid-triturus: something imported ' + result.url);
  return result;
}`)}`,
);
