/**
 * The outbox: to-device messages the Device decides to send on its own (room key requests and
 * their cancellations, forwarded room keys, the `m.dummy` of a session repair). They are staged
 * in the same commit as the state that produced them, listed by `outgoingToDevice()`, and removed
 * by `markSent(ids)` once /sendToDevice succeeded. Kept as one small public value: Olm-encrypted
 * bodies and key-request metadata (room and session ids), never a secret in plaintext.
 */

import { randomBytes } from '../crypto/index.js';
import { invalidArgument } from '../errors.js';
import type { Batch, DeviceContext } from './context.js';
import type { OutgoingToDevice } from './types.js';

const OUTBOX_VALUE = 'device.outbox';
/**
 * An SDK that never sends would let the outbox grow without bound: past this many entries the
 * oldest go (a lost key request is asked again on the next undecryptable event; a lost repair is
 * redone after the hour's pause).
 */
const MAX_OUTBOX = 1000;

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

async function load(ctx: DeviceContext): Promise<OutgoingToDevice[]> {
  const value = await ctx.loadValue(OUTBOX_VALUE);
  return value === undefined ? [] : (JSON.parse(value) as OutgoingToDevice[]);
}

/** Stages a message into the outbox in `batch`; returns its id. */
export async function stageOutgoing(
  ctx: DeviceContext,
  batch: Batch,
  type: string,
  messages: { readonly [userId: string]: { readonly [deviceId: string]: object } },
): Promise<string> {
  const entries = await load(ctx);
  const id = `triturus-${hex(randomBytes(12))}`;
  entries.push({ id, type, messages: messages as OutgoingToDevice['messages'] });
  while (entries.length > MAX_OUTBOX) entries.shift();
  batch.values.push({ key: OUTBOX_VALUE, value: JSON.stringify(entries) });
  return id;
}

/** The messages waiting to be sent, oldest first. */
export function outgoingToDevice(ctx: DeviceContext): Promise<OutgoingToDevice[]> {
  return ctx.run(() => load(ctx));
}

/** Removes sent messages from the outbox (unknown ids are ignored, so a repeated call is harmless). */
export async function markSent(ctx: DeviceContext, ids: readonly string[]): Promise<void> {
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
    throw invalidArgument('ids must be an array of outgoing message ids');
  }
  const sent = new Set(ids);
  await ctx.run(async () => {
    const entries = await load(ctx);
    const kept = entries.filter((e) => !sent.has(e.id));
    if (kept.length === entries.length) return;
    await ctx.commit({ values: [{ key: OUTBOX_VALUE, value: kept.length === 0 ? null : JSON.stringify(kept) }] });
  });
}
