/**
 * Key transfer: exporting room keys in the Matrix form (and as `MEGOLM SESSION DATA` files), and
 * importing them. Imported keys are never marked verified and replace a stored copy only when
 * they know earlier messages and come from a source at least as trusted.
 */

import { invalidArgument, TriturusError } from '../errors.js';
import {
  type DecryptKeyExportOptions,
  decryptKeyExport,
  type EncryptKeyExportOptions,
  encryptKeyExport,
  roomKeyExportFromJson,
  roomKeyExportToJson,
} from '../megolm/export.js';
import { InboundGroupSession } from '../megolm/index.js';
import { argString, MEGOLM_ALGORITHM, requireString } from './common.js';
import type { DeviceContext, InboundState } from './context.js';
import { stageKeyArrived } from './key-requests.js';
import { INBOUND_GROUP_SCHEMA, type InboundMeta, openSessionRecord } from './records.js';
import { cacheInbound, INBOUND_BODY, inboundEntry, mergeInbound } from './room-events-in.js';
import type { ExportedRoomKey } from './types.js';

/** Exports every inbound session (or one room's) at its first known index, in the Matrix form. */
export async function exportRoomKeys(ctx: DeviceContext, roomId?: string): Promise<ExportedRoomKey[]> {
  if (roomId !== undefined) argString(roomId, 'roomId');
  return ctx.run(async () => {
    const entries = await ctx.store.listInboundGroupSessions(roomId);
    return entries.map((entry) => {
      const { meta, session } = openSessionRecord<InboundMeta, InboundGroupSession>(
        entry.record,
        INBOUND_GROUP_SCHEMA,
        ctx.pickleKey,
        INBOUND_BODY,
      );
      return {
        algorithm: MEGOLM_ALGORITHM,
        room_id: meta.roomId,
        sender_key: meta.senderKey,
        session_id: session.sessionId,
        session_key: session.exportAtFirstKnownIndex().toBase64(),
        sender_claimed_keys: meta.senderClaimedEd25519 === undefined ? {} : { ed25519: meta.senderClaimedEd25519 },
        forwarding_curve25519_key_chain: [...meta.forwardingChain],
        ...(meta.sharedHistory === true ? { shared_history: true } : {}),
      };
    });
  });
}

/**
 * Imports room keys (from a key-export file, a backup, or a forwarded key the SDK asked for).
 * They are never marked verified, and replace a stored copy only when they know earlier
 * messages. Returns how many were stored. Malformed entries are skipped.
 */
export async function importRoomKeys(
  ctx: DeviceContext,
  keys: readonly ExportedRoomKey[],
  source: 'import' | 'forwarded',
): Promise<number> {
  if (!Array.isArray(keys)) throw invalidArgument('keys must be an array of exported room keys');
  if (source !== 'import' && source !== 'forwarded') throw invalidArgument("source must be 'import' or 'forwarded'");
  return ctx.run(() =>
    ctx.withBatch(async (batch) => {
      let stored = 0;
      for (const key of keys) {
        let candidate: Omit<InboundState, 'storeId'>;
        try {
          // Read as the key-export file format reads an entry: what that format could not hold is skipped.
          const parsed = roomKeyExportFromJson(key);
          if (parsed.algorithm !== MEGOLM_ALGORITHM) continue;
          candidate = {
            session: InboundGroupSession.import(parsed.sessionKey),
            meta: {
              roomId: requireString(parsed.roomId, 'room_id'),
              senderKey: requireString(parsed.senderKey, 'sender_key'),
              senderClaimedEd25519: parsed.senderClaimedKeys.ed25519,
              source,
              forwardingChain: [...parsed.forwardingCurve25519KeyChain],
              ...((key as { shared_history?: unknown }).shared_history === true ? { sharedHistory: true } : {}),
            },
          };
        } catch (error) {
          if (error instanceof TriturusError) continue;
          throw error;
        }
        const chosen = await mergeInbound(ctx, candidate);
        if (chosen === undefined) continue;
        batch.inboundGroupSessions.push(inboundEntry(ctx, chosen));
        cacheInbound(ctx, chosen);
        // A key we asked for arrived: the request is cancelled.
        await stageKeyArrived(ctx, batch, chosen.meta.roomId, chosen.session.sessionId);
        stored++;
      }
      return stored;
    }),
  );
}

/** A `MEGOLM SESSION DATA` key-export file of every room key (or one room's). */
export async function exportKeyFile(
  ctx: DeviceContext,
  passphrase: string,
  options: EncryptKeyExportOptions,
  roomId?: string,
): Promise<string> {
  const keys = await exportRoomKeys(ctx, roomId);
  return encryptKeyExport(keys.map(roomKeyExportFromJson), passphrase, options);
}

/** Imports a key-export file; a wrong passphrase fails with KEY_EXPORT_BAD_PASSPHRASE. */
export async function importKeyFile(
  ctx: DeviceContext,
  text: string,
  passphrase: string,
  options: DecryptKeyExportOptions,
): Promise<number> {
  const keys = await decryptKeyExport(text, passphrase, options);
  return importRoomKeys(
    ctx,
    keys.map((k) => roomKeyExportToJson(k) as unknown as ExportedRoomKey),
    'import',
  );
}
