/**
 * Misbehaving and minimal oracles for the runner's own tests (test/vectors/cli.test.ts):
 *   node test/vectors/stub-oracle.mjs <mode>
 * - unsupported:  answers every request, hello included, `unsupported`
 * - accept-ed25519: says every Ed25519 signature is valid; everything else unsupported
 * - canonical-empty: answers every canonical_json request with `{}`; everything else unsupported
 * - crash:        answers hello, then exits on the next request
 * - garbage:      answers hello, then writes a line that is not JSON
 * - wrong-id:     answers hello, then answers with another request's id
 * - hang:         answers hello, then never answers again
 */
import { createInterface } from 'node:readline';

const mode = process.argv[2];
const write = (/** @type {unknown} */ value) => process.stdout.write(`${JSON.stringify(value)}\n`);
let requests = 0;

createInterface({ input: process.stdin }).on('line', (line) => {
  const { id, kind } = JSON.parse(line);
  requests++;
  if (mode === 'unsupported') return write({ id, status: 'unsupported', reason: 'a stub' });
  if (kind === 'hello') return write({ id, status: 'ok', output: { implementation: `stub ${mode}`, protocol: 1 } });
  if (mode === 'accept-ed25519') {
    if (kind === 'ed25519_verify') return write({ id, status: 'ok', output: { valid: true } });
    return write({ id, status: 'unsupported', reason: 'a stub' });
  }
  if (mode === 'canonical-empty') {
    if (kind === 'canonical_json') return write({ id, status: 'ok', output: { canonical: '{}' } });
    return write({ id, status: 'unsupported', reason: 'a stub' });
  }
  if (mode === 'crash') process.exit(3);
  if (mode === 'garbage') return process.stdout.write('this is not JSON\n');
  if (mode === 'wrong-id') return write({ id: id + 100, status: 'unsupported' });
  if (mode === 'hang') return undefined;
  throw new Error(`unknown mode ${mode} (request ${requests})`);
});
