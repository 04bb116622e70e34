/**
 * Crash-test writer: `crash-writer.ts <backend> <target> <scope> <first seq>`. Commits crashBatch(seq) for
 * seq = first, first + 1, ... forever, printing each seq on stdout only after its commit resolved. The test
 * kills it with SIGKILL at a random moment. (stdout is a pipe: writes to it are synchronous on Linux.)
 */
import { crashBatch } from '../crash-batch.js';
import { openStore } from './open-store.js';

const [backend, target, scope, first] = process.argv.slice(2);
const store = await openStore(backend, target, scope);
process.stdout.write('ready\n');
for (let seq = Number(first); ; seq++) {
  await store.commit(crashBatch(seq));
  process.stdout.write(`${seq}\n`);
}
