/**
 * `npm run bench:floors`: the lower bounds under the two tightest benchmark targets, measured from
 * their parts on this machine, next to the reference implementation's time.
 *
 * - Megolm "new inbound session + advance 0 → 100000" (target ≤ 0.5 of libolm): the session key's
 *   Ed25519 signature check (OpenSSL through node:crypto) plus 298 HMAC-SHA256 steps under a fresh
 *   key each (four SHA-256 compressions each; the key changes every step, so nothing is reusable).
 * - Device "encryptRoomEvent 100 B, memory store" (target ≤ 0.5 of OlmMachine, met by a small
 *   margin; the reference here is OlmMachine's bare call, JSON strings ready-made): the Ed25519
 *   signature of the message (OpenSSL), AES-256-CBC through createCipheriv, the HKDF, the MAC and
 *   one ratchet step, with no Device, JSON or encoding work at all; then the same work written
 *   straight through with everything a room event needs (JSON, UTF-8, message assembly, base64,
 *   the event content) and nothing reusable, which is the least any Device on these primitives pays.
 *
 * Each part (and each reference) is the fastest of 15 batches, so that parts measured at different
 * moments of a noisy machine stay comparable. A floor ratio above the target means the target cannot be
 * met by this code on this machine whatever the surrounding code does; below it, the gap between
 * floor and whole case is what the surrounding code (decoding, JSON, Device, allocation) costs.
 * Prints a markdown table and rewrites bench/FLOORS.md.
 */
import nodeCrypto, { createCipheriv, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import { initAsync } from '@matrix-org/matrix-sdk-crypto-wasm';
import Olm from '@towns-protocol/olm';
import { HkdfSha256Fixed } from '../src/crypto/hkdf-sha256-fixed.js';
import { hmacByteChain } from '../src/crypto/hmac-sha256-byte.js';
import { hmacSha256Key32Into } from '../src/crypto/sha256.js';
import { GroupSession, InboundGroupSession, SessionKey } from '../src/index.js';
import { advance, newRatchetState } from '../src/megolm/ratchet.js';
import { machineEncryptor, sender } from './device.js';

/** The fastest of 15 batches (mean time per call, in µs): on a shared machine noise only adds time. */
function time(fn: () => unknown, perBatch: number): number {
  for (let i = 0; i < perBatch * 3; i++) fn();
  const means: number[] = [];
  for (let b = 0; b < 15; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i++) fn();
    means.push(Number(process.hrtime.bigint() - start) / perBatch / 1000);
  }
  return Math.min(...means);
}

async function timeAsync(fn: () => Promise<unknown>, perBatch: number): Promise<number> {
  for (let i = 0; i < perBatch * 3; i++) await fn();
  const means: number[] = [];
  for (let b = 0; b < 15; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i++) await fn();
    means.push(Number(process.hrtime.bigint() - start) / perBatch / 1000);
  }
  return Math.min(...means);
}

const us = (v: number): string => `${v.toFixed(1)} µs`;
const rows: string[] = [];
const row = (what: string, value: string, note = ''): void => {
  rows.push(`| ${what} | ${value} | ${note} |`);
};

// --- Megolm: new inbound session + advance 0 → 100000 -------------------------------------------
const olm = await Olm.initAsync();
const libolmOut = new olm.OutboundGroupSession();
libolmOut.create();
const libolmKey = libolmOut.session_key();
const libolmCase = time(() => {
  const s = new olm.InboundGroupSession();
  s.create(libolmKey);
  const exported = s.export_session(100_000);
  s.free();
  return exported;
}, 100);
const ourKey = GroupSession.create().sessionKey().toBase64();
const ourCase = time(
  () => InboundGroupSession.fromSessionKey(SessionKey.fromBase64(ourKey)).exportAt(100_000).toBase64(),
  100,
);
const message = new Uint8Array(200).fill(1);
const pair = generateKeyPairSync('ed25519');
const signature = sign(null, message, pair.privateKey);
const verifyOnly = time(() => verify(null, message, pair.publicKey, signature), 300);
const chainData = new Uint8Array(128).fill(9);
const step = time(() => hmacByteChain(chainData, 32, 2, 1000), 10) / 1000;
// 0 → 100000 = 0x0186A0. R1 turns once, re-deriving R3 and R2 from the same key block (2 + 3 × 2
// compressions); R2 turns 0x86 times (133 whole steps, then 2 + 2 × 2 for R3 and R2); R3 turns 0xA0
// times (159 whole steps, then 2 + 2). 1186 compressions: 296.5 steps' worth.
const compressions = 8 + (133 * 4 + 6) + (159 * 4 + 4);
const advanceFloor = verifyOnly + (compressions / 4) * step;
row('libolm: create(session_key) + export_session(100000)', us(libolmCase), 'reference');
row('triturus: the whole case', us(ourCase), `ratio ${(ourCase / libolmCase).toFixed(2)}`);
row('Ed25519 verify alone (OpenSSL, key handle cached)', us(verifyOnly));
row('one HMAC-SHA256 ratchet step under a fresh key (4 compressions)', `${(step * 1000).toFixed(0)} ns`);
row(
  `floor: verify + ${compressions} compressions`,
  us(advanceFloor),
  `**floor ratio ${(advanceFloor / libolmCase).toFixed(2)}** (target ≤ 0.5)`,
);

// --- Device: encryptRoomEvent 100 B ---------------------------------------------------------------
await initAsync();
const { encrypt: machineEncrypt } = await machineEncryptor();
const machineCase = await timeAsync(machineEncrypt, 200);
const signed = new Uint8Array(180).fill(3);
const signOnly = time(() => sign(null, signed, pair.privateKey as KeyObject), 300);
const key = new Uint8Array(32).fill(5);
const iv = new Uint8Array(16).fill(6);
const padded = new Uint8Array(160).fill(7);
const aes = time(() => createCipheriv('aes-256-cbc', key, iv).update(padded), 1000);
const kdf = new HkdfSha256Fixed(128, new TextEncoder().encode('MEGOLM_KEYS'), 80);
const ratchet = new Uint8Array(128).fill(8);
const keys = new Uint8Array(80);
const hkdf = time(() => kdf.deriveInto(ratchet, 0, keys, 0), 1000);
const payload = new Uint8Array(166).fill(2);
const macOut = new Uint8Array(32);
const mac = time(() => hmacSha256Key32Into(keys, 32, payload, payload.length, macOut, 0, 8), 1000);
const state = newRatchetState(new Uint8Array(128).fill(4), 0);
const ratchetStep = time(() => advance(state), 1000);
const encryptFloor = signOnly + aes + hkdf + mac + ratchetStep;
row('OlmMachine.encryptRoomEvent 100 B', us(machineCase), 'reference');
row('Ed25519 sign of the 180-byte message (OpenSSL, key handle cached)', us(signOnly));
row('AES-256-CBC, 160 bytes (createCipheriv + update)', us(aes));
row('HKDF-SHA256 of the ratchet (12 compressions)', us(hkdf));
row('HMAC-SHA256 MAC of the payload (fresh key, 8 compressions)', us(mac));
row('one Megolm ratchet step', us(ratchetStep));
row(
  'floor: the cryptography alone',
  us(encryptFloor),
  `**floor ratio ${(encryptFloor / machineCase).toFixed(2)}** (target ≤ 0.5)`,
);

// The least an implementation on these primitives can do for one room event, written straight
// through with nothing reusable: JSON, UTF-8, HKDF, AES, MAC and signature into one preallocated
// message, base64, the ratchet step and the event content, in an async call as the Device's is.
const straightKey = pair.privateKey as KeyObject;
const straightRatchet = newRatchetState(new Uint8Array(128).fill(4), 0);
const straightUtf8 = new Uint8Array(1024);
const straightPad = new Uint8Array(1024);
const straightMessage = new Uint8Array(1024);
const encoder = new TextEncoder();
const straightContent = { msgtype: 'm.text', body: 'x'.repeat(100) };
const straight = async () => {
  const json = JSON.stringify({ type: 'm.room.message', content: straightContent, room_id: '!bench:example.org' });
  const n = encoder.encodeInto(json, straightUtf8).written;
  kdf.deriveInto(straightRatchet.data, 0, keys, 0);
  const pad = 16 - (n % 16);
  straightPad.set(straightUtf8.subarray(0, n));
  straightPad.fill(pad, n, n + pad);
  const ct = createCipheriv('aes-256-cbc', keys.subarray(0, 32), keys.subarray(64, 80)).update(
    straightPad.subarray(0, n + pad),
  );
  // version, index tag and varint (3 bytes below 2^21), ciphertext tag and length (2 bytes below 2^14)
  let o = 0;
  straightMessage[o++] = 3;
  straightMessage[o++] = 0x08;
  const index = straightRatchet.counter;
  straightMessage[o++] = (index & 0x7f) | 0x80;
  straightMessage[o++] = ((index >>> 7) & 0x7f) | 0x80;
  straightMessage[o++] = (index >>> 14) & 0x7f;
  straightMessage[o++] = 0x12;
  straightMessage[o++] = (ct.length & 0x7f) | 0x80;
  straightMessage[o++] = ct.length >>> 7;
  straightMessage.set(ct, o);
  o += ct.length;
  hmacSha256Key32Into(keys, 32, straightMessage, o, straightMessage, o, 8);
  o += 8;
  straightMessage.set(sign(null, straightMessage.subarray(0, o), straightKey), o);
  o += 64;
  const ciphertext = Buffer.from(straightMessage.buffer, 0, o).toString('base64').replace(/=+$/, '');
  advance(straightRatchet);
  return {
    content: {
      algorithm: 'm.megolm.v1.aes-sha2',
      sender_key: 'k'.repeat(43),
      ciphertext,
      session_id: 's'.repeat(43),
      device_id: 'DEVICE',
    },
    sessionId: 's'.repeat(43),
    messageIndex: index,
  };
};
const straightCase = await timeAsync(straight, 2000);
row(
  'the same work written straight through (no objects, no Device)',
  us(straightCase),
  `**straight-through ratio ${(straightCase / machineCase).toFixed(2)}**`,
);

// The same signature inside the real Device loop: node:crypto's sign is wrapped with a timer (its
// ESM binding follows the module object after syncBuiltinESMExports), so the Device's own time
// splits into the signing and everything else.
const device = await sender('memory');
const content = { msgtype: 'm.text', body: 'x'.repeat(100) };
const deviceEncrypt = () => device.encryptRoomEvent('!bench:example.org', 'm.room.message', content);
let signNs = 0n;
let signCalls = 0;
const plainSign = nodeCrypto.sign;
nodeCrypto.sign = ((...args: Parameters<typeof plainSign>) => {
  const start = process.hrtime.bigint();
  const result = plainSign(...args);
  signNs += process.hrtime.bigint() - start;
  signCalls++;
  return result;
}) as typeof plainSign;
syncBuiltinESMExports();
for (let i = 0; i < 3000; i++) await deviceEncrypt();
// The fastest of 15 batches, and the signing time within that batch.
let deviceWhole = Number.POSITIVE_INFINITY;
let signInSitu = 0;
let signCallsSeen = 0;
const calls = 2000;
for (let batch = 0; batch < 15; batch++) {
  signNs = 0n;
  signCalls = 0;
  const batchStart = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await deviceEncrypt();
  const whole = Number(process.hrtime.bigint() - batchStart) / calls / 1000;
  signCallsSeen = signCalls;
  if (whole < deviceWhole) {
    deviceWhole = whole;
    signInSitu = Number(signNs) / signCalls / 1000;
  }
}
nodeCrypto.sign = plainSign;
syncBuiltinESMExports();
if (signCallsSeen < calls) throw new Error('the sign wrapper did not see the Device’s signatures');
const inSituFloor = signInSitu + aes + hkdf + mac + ratchetStep;
row(
  'Device.encryptRoomEvent in the instrumented loop',
  us(deviceWhole),
  `ratio ${(deviceWhole / machineCase).toFixed(2)}`,
);
row('its Ed25519 sign, timed inside that loop', us(signInSitu));
row(
  'floor with that sign',
  us(inSituFloor),
  `**floor ratio ${(inSituFloor / machineCase).toFixed(2)}**; ${us(deviceWhole - inSituFloor)} left for JSON, encoding and the Device`,
);

const output = [
  '# Floors under the tightest benchmark targets',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:floors\` on Node ${process.version},`,
  `${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores). See bench/floors.ts for what each row is.`,
  'The whole-case ratios in bench/RESULTS.md come from the main benchmark; these rows take the cases apart.',
  '',
  '| part | time | note |',
  '|---|---|---|',
  ...rows,
  '',
].join('\n');
console.log(output);
writeFileSync(new URL('./FLOORS.md', import.meta.url), output);
