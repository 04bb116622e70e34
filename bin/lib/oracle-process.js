// @ts-check
/**
 * The two ends of the oracle protocol's transport (vectors/ORACLE.md): JSON lines on stdin/stdout,
 * one request answered before the next is sent.
 * - `OracleProcess` starts an oracle command and sends it requests (the runner's side);
 * - `serveOracle` reads requests from stdin and writes answers to stdout (an oracle's side).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export const PROTOCOL_VERSION = 1;

/** The oracle broke the protocol (died, hung, wrote something that is not an answer): the run stops. */
export class ProtocolError extends Error {}

/**
 * @typedef {Record<string, any>} Json
 * @typedef {{ status: 'ok', output: Json } | { status: 'refused', error?: string } | { status: 'unsupported', reason?: string } | { status: 'error', error?: string }} Response
 * @typedef {{ request(kind: string, payload: Json): Promise<Response>, close(): Promise<void> }} Oracle
 */

const STATUSES = new Set(['ok', 'refused', 'unsupported', 'error']);

/** Checks the shape of an answer (without its id). @param {unknown} value @param {string} what @returns {Response} */
export function checkResponse(value, what) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError(`${what}: the answer is not a JSON object`);
  }
  const response = /** @type {Json} */ (value);
  if (!STATUSES.has(response.status)) {
    throw new ProtocolError(
      `${what}: status must be ok, refused, unsupported or error, not ${JSON.stringify(response.status)}`,
    );
  }
  if (response.status === 'ok' && (response.output === null || typeof response.output !== 'object')) {
    throw new ProtocolError(`${what}: an ok answer needs an output object`);
  }
  return /** @type {Response} */ (response);
}

/** A running oracle command. */
export class OracleProcess {
  /** @type {import('node:child_process').ChildProcessWithoutNullStreams} */
  #child;
  #nextId = 0;
  /** @type {{ id: number, what: string, resolve: (r: Response) => void, reject: (e: Error) => void } | undefined} */
  #pending;
  /** @type {Error | undefined} */
  #failure;
  #timeoutMs;
  /** @type {Promise<number | null>} */
  #exited;

  /** @param {string} command a shell command line @param {{ timeoutMs: number }} options */
  constructor(command, options) {
    this.#timeoutMs = options.timeoutMs;
    this.#child = /** @type {any} */ (spawn(command, { shell: true, stdio: ['pipe', 'pipe', 'inherit'] }));
    this.#exited = new Promise((resolve) => {
      this.#child.on('exit', (code, signal) => {
        this.#fail(new ProtocolError(`the oracle exited (${signal ?? `code ${code}`})`));
        resolve(code);
      });
      this.#child.on('error', (error) => {
        this.#fail(new ProtocolError(`the oracle could not be started: ${error.message}`));
        resolve(null);
      });
    });
    this.#child.stdin.on('error', () => {}); // a closed pipe shows up as the exit above
    const lines = createInterface({ input: this.#child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on('line', (line) => this.#onLine(line));
  }

  /** @param {string} line */
  #onLine(line) {
    const pending = this.#pending;
    if (line.trim() === '') return;
    let value;
    try {
      value = JSON.parse(line);
    } catch {
      this.#fail(new ProtocolError(`the oracle wrote a line that is not JSON: ${line.slice(0, 80)}`));
      return;
    }
    if (pending === undefined) {
      this.#fail(new ProtocolError(`the oracle answered when no request was open: ${line.slice(0, 80)}`));
      return;
    }
    if (value?.id !== pending.id) {
      this.#fail(
        new ProtocolError(`${pending.what}: the answer has id ${JSON.stringify(value?.id)}, not ${pending.id}`),
      );
      return;
    }
    this.#pending = undefined;
    try {
      const { id: _id, ...response } = value;
      pending.resolve(checkResponse(response, pending.what));
    } catch (error) {
      this.#fail(/** @type {Error} */ (error), pending);
    }
  }

  /**
   * @param {Error} error
   * @param {{ reject: (e: Error) => void } | undefined} [pending]
   */
  #fail(error, pending = this.#pending) {
    this.#failure ??= error;
    this.#pending = undefined;
    pending?.reject(error);
  }

  /** Sends one request and waits for its answer. @param {string} kind @param {Json} payload @returns {Promise<Response>} */
  request(kind, payload) {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    const what = `request ${id} (${kind})`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new ProtocolError(`${what}: no answer within ${this.#timeoutMs / 1000} s`));
        this.#child.kill('SIGKILL');
      }, this.#timeoutMs);
      this.#pending = {
        id,
        what,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#child.stdin.write(`${JSON.stringify({ id, kind, ...payload })}\n`);
    });
  }

  /** Closes the oracle's stdin and waits for it to exit (killing it after 5 s). */
  async close() {
    this.#failure ??= new ProtocolError('the oracle was closed');
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** Runs an in-process handler with the wire's JSON round trip, so both modes see the same values. */
export class InProcessOracle {
  #handle;
  /** @param {(kind: string, payload: Json) => Response | Promise<Response>} handle */
  constructor(handle) {
    this.#handle = handle;
  }
  /** @param {string} kind @param {Json} payload @returns {Promise<Response>} */
  async request(kind, payload) {
    const response = await this.#handle(kind, JSON.parse(JSON.stringify(payload)));
    return checkResponse(JSON.parse(JSON.stringify(response)), `${kind}`);
  }
  async close() {}
}

/**
 * The oracle side: answers each request line on stdin with one line on stdout. `handle` returns a
 * response; a thrown exception becomes `{status: "error"}` (a harness failure, not a verdict).
 * Logs must go to stderr: stdout carries answers only.
 * @param {(kind: string, payload: Json) => Response | Promise<Response>} handle
 */
export function serveOracle(handle) {
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  /** @type {Promise<void>} */
  let queue = Promise.resolve();
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    queue = queue.then(async () => {
      /** @type {Json} */
      let request;
      try {
        request = JSON.parse(line);
      } catch {
        process.stdout.write(`${JSON.stringify({ id: null, status: 'error', error: 'the request is not JSON' })}\n`);
        return;
      }
      const { id, kind, ...payload } = request;
      /** @type {Response} */
      let response;
      try {
        response = await handle(String(kind), payload);
      } catch (error) {
        response = {
          status: 'error',
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        };
      }
      process.stdout.write(`${JSON.stringify({ id, ...response })}\n`);
    });
  });
}
