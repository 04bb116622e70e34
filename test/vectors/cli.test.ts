/**
 * triturus-vectors (bin/triturus-vectors.js) as auditors run it, as child processes:
 * - triturus in-process and triturus through the oracle protocol give the same verdict for every
 *   test, and pass them all; in --oracle mode the runner loads no triturus code;
 * - libolm through its oracle (test/vectors/libolm-oracle.ts) gives exactly the verdicts recorded in
 *   vectors/VERDICTS.md, and agrees with what the generator recorded from libolm;
 * - the runner's own rules: unsupported and skipped tests, --require-all, --file, and oracles that
 *   break the protocol (exit code 2).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VECTORS = join(ROOT, 'vectors');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const scratch = mkdtempSync(join(tmpdir(), 'triturus-vectors-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface TestReport {
  file: string;
  tcId: number;
  result: 'valid' | 'invalid';
  verdict: 'pass' | 'fail' | 'unsupported' | 'skipped';
  kind?: string;
  detail?: string;
}
interface Report {
  implementation: string;
  summary: { total: number; passed: number; failed: number; unsupported: number; skipped: number };
  tests: TestReport[];
}
interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  report?: Report;
}

let runs = 0;
/** Runs the CLI; `node` args come first (e.g. tsx or --import). */
function cli(runner: string[], args: string[]): Run {
  const json = join(scratch, `report-${runs++}.json`);
  const out = spawnSync(
    runner[0]!,
    [...runner.slice(1), join(ROOT, 'bin/triturus-vectors.js'), ...args, '--json', json],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  let report: Report | undefined;
  try {
    report = JSON.parse(readFileSync(json, 'utf8')) as Report;
  } catch {
    report = undefined;
  }
  return { status: out.status, stdout: out.stdout, stderr: out.stderr, ...(report === undefined ? {} : { report }) };
}

/** Plain node with a hook that makes loading triturus throw: --oracle mode must not need it. */
const NODE_WITHOUT_TRITURUS = ['node', '--import', join(ROOT, 'test/vectors/forbid-triturus.mjs')];
const TRITURUS_SOURCE = [TSX, '--conditions=triturus-source'];
const TRITURUS_ORACLE = `"${TSX}" --conditions=triturus-source bin/lib/triturus-oracle.js`;
const LIBOLM_ORACLE = `"${TSX}" test/vectors/libolm-oracle.ts`;
const STUB = (mode: string) => `node test/vectors/stub-oracle.mjs ${mode}`;

const verdicts = (report: Report | undefined) =>
  Object.fromEntries((report?.tests ?? []).map((t) => [`${t.file} ${t.tcId}`, t.verdict]));
const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

const files = readdirSync(VECTORS)
  .filter((name) => name.endsWith('.json'))
  .map((name) => ({ name, file: JSON.parse(readFileSync(join(VECTORS, name), 'utf8')) }));
const totalTests = files.reduce((n, { file }) => n + (file.numberOfTests as number), 0);
// biome-ignore lint/suspicious/noExplicitAny: a vector test is JSON whose fields depend on its file
type VectorTest = Record<string, any>;
const testsOf = (name: string): VectorTest[] =>
  files.find((f) => f.name === name)!.file.testGroups.flatMap((g: { tests: VectorTest[] }) => g.tests);

describe('triturus-vectors against triturus', () => {
  let direct: Run;
  let viaOracle: Run;
  beforeAll(() => {
    direct = cli(TRITURUS_SOURCE, []);
    viaOracle = cli(NODE_WITHOUT_TRITURUS, ['--oracle', TRITURUS_ORACLE]);
  });

  it('in-process: every test of vectors/ passes (exit 0, the summary line counts them all)', () => {
    expect(direct.stderr).toBe('');
    expect(direct.status).toBe(0);
    expect(direct.report?.summary).toEqual({
      total: totalTests,
      passed: totalTests,
      failed: 0,
      unsupported: 0,
      skipped: 0,
    });
    expect(lastLine(direct.stdout)).toMatch(
      new RegExp(
        `^triturus-vectors: triturus \\(node backend\\): ${totalTests} tests: ${totalTests} passed, 0 failed, 0 unsupported, 0 skipped$`,
      ),
    );
  });

  it('through the oracle protocol: the same verdict for every test, with no triturus code in the runner', () => {
    expect(viaOracle.status, viaOracle.stderr).toBe(0);
    expect(verdicts(viaOracle.report)).toEqual(verdicts(direct.report));
    expect(Object.keys(verdicts(direct.report))).toHaveLength(totalTests);
  });

  it('the hook that keeps triturus out of the runner works: the in-process mode fails under it', () => {
    const run = cli(NODE_WITHOUT_TRITURUS, ['--file', 'canonical_json.json']);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('forbid-triturus: something imported triturus');
  });
});

/** vectors/VERDICTS.md's libolm table: file, verdict, tcIds. */
function recordedLibolmVerdicts(): Record<string, string> {
  const text = readFileSync(join(VECTORS, 'VERDICTS.md'), 'utf8');
  const section = text.slice(text.indexOf('## libolm'));
  const out: Record<string, string> = {};
  for (const match of section.matchAll(/^\| (\S+\.json) \| (fail|unsupported) \| ([^|]+) \|/gm)) {
    for (const part of match[3]!.split(',')) {
      const [from, to] = part.trim().split('-').map(Number);
      for (let id = from!; id <= (to ?? from!); id++) out[`${match[1]} ${id}`] = match[2]!;
    }
  }
  return out;
}

describe('triturus-vectors against libolm (test/vectors/libolm-oracle.ts)', () => {
  let run: Run;
  let all: Record<string, string>;
  beforeAll(() => {
    run = cli(NODE_WITHOUT_TRITURUS, ['--oracle', LIBOLM_ORACLE]);
    all = verdicts(run.report);
  });

  it('gives exactly the verdicts vectors/VERDICTS.md records (all other tests pass)', () => {
    expect(run.status, run.stderr).toBe(1);
    expect(run.report?.implementation).toBe('libolm 3.2.16 (@towns-protocol/olm)');
    const recorded = recordedLibolmVerdicts();
    expect(Object.keys(recorded).length).toBeGreaterThan(40);
    const deviations = Object.fromEntries(Object.entries(all).filter(([, v]) => v !== 'pass'));
    expect(deviations).toEqual(recorded);
    expect(Object.keys(all)).toHaveLength(totalTests);
    const s = run.report!.summary;
    expect(lastLine(run.stdout)).toBe(
      `triturus-vectors: libolm 3.2.16 (@towns-protocol/olm): ${totalTests} tests: ${s.passed} passed, ${s.failed} failed, ${s.unsupported} unsupported, 0 skipped`,
    );
  });

  it('agrees with what the generator recorded from libolm: libolmAccepts, libolmError, libolmResult', () => {
    for (const test of testsOf('ed25519_strict_verify.json')) {
      const libolmSaysValid = (all[`ed25519_strict_verify.json ${test.tcId}`] === 'pass') === (test.result === 'valid');
      expect(libolmSaysValid, `ed25519 tcId ${test.tcId}`).toBe(test.libolmAccepts);
    }
    let checked = 0;
    for (const { name } of files) {
      for (const test of testsOf(name)) {
        const verdict = all[`${name} ${test.tcId}`];
        // libolm refused these when the vectors were made (each is an invalid test): a refusal passes.
        if (typeof test.libolmError === 'string' && test.result === 'invalid' && verdict !== 'unsupported') {
          expect(verdict, `${name} tcId ${test.tcId} (${test.libolmError})`).toBe('pass');
          checked++;
        }
        // libolm accepted these (invalid under the stricter rule): accepting fails them.
        if (test.libolmResult !== undefined) {
          expect(verdict, `${name} tcId ${test.tcId}`).toBe('fail');
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(60);
  });
});

describe('the runner (stub oracles)', () => {
  it('an oracle that supports nothing: every test unsupported, exit 0; with --require-all exit 1', () => {
    const run = cli(NODE_WITHOUT_TRITURUS, ['--oracle', STUB('unsupported')]);
    expect(run.status).toBe(0);
    expect(run.report?.implementation).toBe('unnamed oracle');
    expect(run.report?.summary).toEqual({
      total: totalTests,
      passed: 0,
      failed: 0,
      unsupported: totalTests,
      skipped: 0,
    });
    expect(run.stdout).toContain('UNSUPPORTED olm_conversation.json (olm_steps): 92 tests: a stub');
    expect(cli(NODE_WITHOUT_TRITURUS, ['--oracle', STUB('unsupported'), '--require-all']).status).toBe(1);
  });

  it('judges each test: an oracle accepting every Ed25519 signature fails exactly the invalid ones', () => {
    const run = cli(NODE_WITHOUT_TRITURUS, [
      '--oracle',
      STUB('accept-ed25519'),
      '--file',
      'ed25519_strict_verify.json',
    ]);
    expect(run.status).toBe(1);
    const tests = testsOf('ed25519_strict_verify.json');
    const expected = Object.fromEntries(
      tests.map((t) => [`ed25519_strict_verify.json ${t.tcId}`, t.result === 'valid' ? 'pass' : 'fail']),
    );
    expect(verdicts(run.report)).toEqual(expected);
    expect(run.stdout).toMatch(
      /^FAIL ed25519_strict_verify\.json tcId \d+ \(.+\): ed25519_verify: valid: got true, expected false$/m,
    );
  });

  it('an accepted invalid input fails its test; a wrong output fails a valid one', () => {
    const run = cli(NODE_WITHOUT_TRITURUS, ['--oracle', STUB('canonical-empty'), '--file', 'canonical_json.json']);
    expect(run.status).toBe(1);
    const tests = testsOf('canonical_json.json');
    // Only the empty object's canonical form is `{}`.
    const expected = Object.fromEntries(
      tests.map((t) => [
        `canonical_json.json ${t.tcId}`,
        t.result === 'valid' && t.expected === '{}' ? 'pass' : 'fail',
      ]),
    );
    expect(Object.values(expected).filter((v) => v === 'pass')).toHaveLength(1);
    expect(verdicts(run.report)).toEqual(expected);
    expect(run.stdout).toMatch(
      /^FAIL canonical_json\.json tcId 12 \(.+\): canonical_json: accepted, but the vector says it must be refused$/m,
    );
  });

  it.each([
    ['crash', 'the oracle exited (code 3)'],
    ['garbage', 'a line that is not JSON'],
    ['wrong-id', 'the answer has id'],
  ])('an oracle that breaks the protocol (%s) stops the run with exit 2', (mode, message) => {
    const run = cli(NODE_WITHOUT_TRITURUS, ['--oracle', STUB(mode), '--file', 'canonical_json.json']);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('the oracle broke the protocol');
    expect(run.stderr).toContain(message);
  });

  it('an oracle that does not answer within --timeout stops the run with exit 2', () => {
    const run = cli(NODE_WITHOUT_TRITURUS, [
      '--oracle',
      STUB('hang'),
      '--file',
      'canonical_json.json',
      '--timeout',
      '1',
    ]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('no answer within 1 s');
  });

  it('a vector file of a schema the runner does not know is skipped (counted apart); --file picks files', () => {
    const dir = mkdtempSync(join(scratch, 'vectors-'));
    writeFileSync(join(dir, 'canonical_json.json'), readFileSync(join(VECTORS, 'canonical_json.json')));
    writeFileSync(
      join(dir, 'sas.json'),
      JSON.stringify({
        algorithm: 'SAS (a future file)',
        schema: 'sas_v1',
        numberOfTests: 2,
        testGroups: [
          { comment: '', tests: [1, 2].map((tcId) => ({ tcId, comment: `future ${tcId}`, result: 'valid' })) },
        ],
      }),
    );
    const run = cli(TRITURUS_SOURCE, ['--vectors', dir]);
    expect(run.status).toBe(0);
    expect(run.report?.summary).toEqual({ total: 17, passed: 15, failed: 0, unsupported: 0, skipped: 2 });
    expect(run.stdout).toContain('SKIPPED sas.json: 2 tests: this runner does not know the schema sas_v1');
    expect(cli(TRITURUS_SOURCE, ['--vectors', dir, '--require-all']).status).toBe(1);
    const one = cli(TRITURUS_SOURCE, ['--vectors', dir, '--file', 'sas.json']);
    expect(one.report?.summary.total).toBe(2);
    const missing = cli(TRITURUS_SOURCE, ['--file', 'nope.json']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('no such vector file');
  });

  it('a usage error exits 2 with the usage text', () => {
    const run = cli(NODE_WITHOUT_TRITURUS, ['--no-such-option']);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('Usage: triturus-vectors');
  });
});
