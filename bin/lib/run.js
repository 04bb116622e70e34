// @ts-check
/**
 * Runs the vector files against an oracle and collects one verdict per test (vectors/ORACLE.md):
 * pass, fail, unsupported (the oracle does not implement the request kind) or skipped (this runner
 * does not know the file's schema: a newer vectors/ directory).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROTOCOL_VERSION, ProtocolError } from './oracle-process.js';
import { PLANNERS, Unsupported } from './plan.js';

/**
 * @typedef {import('./plan.js').VectorFile} VectorFile
 * @typedef {import('./plan.js').Answer} Answer
 * @typedef {import('./oracle-process.js').Oracle} Oracle
 * @typedef {'pass' | 'fail' | 'unsupported' | 'skipped'} Outcome
 * @typedef {{ file: string, tcId: number, comment: string, result: string, flags?: string[], kind?: string, verdict: Outcome, detail?: string }} TestReport
 * @typedef {{ total: number, passed: number, failed: number, unsupported: number, skipped: number }} Summary
 * @typedef {{ implementation: string, protocol: number, summary: Summary, tests: TestReport[] }} Report
 */

/** The vector files of `dir` (all `*.json`, or those named in `only`), sorted by name. @param {string} dir @param {string[]} [only] */
export function loadVectorFiles(dir, only) {
  const names = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort();
  if (only !== undefined && only.length > 0) {
    const unknown = only.filter((name) => !names.includes(name));
    if (unknown.length > 0) throw new Error(`no such vector file in ${dir}: ${unknown.join(', ')}`);
  }
  return names
    .filter((name) => only === undefined || only.length === 0 || only.includes(name))
    .map((name) => ({ name, file: /** @type {VectorFile} */ (JSON.parse(readFileSync(join(dir, name), 'utf8'))) }));
}

/**
 * @param {{ dir: string, only?: string[] | undefined, oracle: Oracle, onTest?: (test: TestReport) => void }} options
 * @returns {Promise<Report>}
 */
export async function runVectors({ dir, only, oracle, onTest }) {
  const files = loadVectorFiles(dir, only);
  const hello = await oracle.request('hello', { protocol: PROTOCOL_VERSION });
  const implementation =
    hello.status === 'ok' && typeof hello.output.implementation === 'string'
      ? hello.output.implementation
      : 'unnamed oracle';

  /** @type {TestReport[]} */
  const tests = [];
  /** @param {import('./plan.js').TestCase} test @param {string} file @param {Outcome} verdict @param {{ kind?: string, detail?: string }} [extra] */
  const record = (test, file, verdict, extra = {}) => {
    /** @type {TestReport} */
    const report = { file, tcId: test.tcId, comment: test.comment, result: test.result, verdict, ...extra };
    if (test.flags !== undefined) report.flags = test.flags;
    tests.push(report);
    onTest?.(report);
  };

  for (const { name, file } of files) {
    const planner = PLANNERS[file.schema];
    if (planner === undefined) {
      for (const group of file.testGroups ?? []) {
        for (const test of group.tests ?? []) {
          record(test, name, 'skipped', { detail: `this runner does not know the schema ${file.schema}` });
        }
      }
      continue;
    }
    for (const unit of planner(file)) {
      /** @type {import('./plan.js').Send} */
      const send = async (kind, payload) => {
        const response = await oracle.request(kind, payload);
        if (response.status === 'unsupported') throw new Unsupported(kind, response.reason ?? 'unsupported');
        return /** @type {Answer} */ (response);
      };
      try {
        const verdicts = await unit.run(send);
        for (const test of unit.tests) {
          const verdict = verdicts.find((v) => v.tcId === test.tcId);
          if (verdict === undefined) throw new Error(`no verdict for tcId ${test.tcId}`);
          record(test, name, verdict.pass ? 'pass' : 'fail', {
            kind: unit.kind,
            ...(verdict.detail === undefined ? {} : { detail: verdict.detail }),
          });
        }
      } catch (error) {
        if (error instanceof ProtocolError) throw error;
        if (error instanceof Unsupported) {
          for (const test of unit.tests) record(test, name, 'unsupported', { kind: error.kind, detail: error.reason });
          continue;
        }
        // An answer so malformed that judging it threw: the unit's tests fail, naming the cause.
        const detail = `could not judge the answer: ${error instanceof Error ? error.message : String(error)}`;
        for (const test of unit.tests) record(test, name, 'fail', { kind: unit.kind, detail });
      }
    }
  }

  /** @param {Outcome} outcome */
  const count = (outcome) => tests.filter((t) => t.verdict === outcome).length;
  return {
    implementation,
    protocol: PROTOCOL_VERSION,
    summary: {
      total: tests.length,
      passed: count('pass'),
      failed: count('fail'),
      unsupported: count('unsupported'),
      skipped: count('skipped'),
    },
    tests,
  };
}
