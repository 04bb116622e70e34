/**
 * Fork choice: which of several concurrent children of one epoch a group follows. It must give
 * the same answer on every member, from what every member sees: the commits themselves.
 *
 * A policy only ranks siblings (children of one parent). The winning tip is found by starting at
 * the oldest retained epoch and descending, at each branching, into the child the policy
 * prefers, skipping subtrees whose every tip was already resolved. This is draft-kohbrok's rule
 * ("the fork whose first differing commit ranks higher wins") applied recursively.
 */

/** What a policy sees of an epoch. */
export interface EpochSummary {
  /** The Matrix event id of the commit that created this epoch ('' for a group's creation). */
  readonly id: string;
  readonly epoch: number;
  /** [user id, device id] of the member whose commit created the epoch. */
  readonly creator: readonly [string, string];
  /** The MLS confirmation tag of the commit that created the epoch. */
  readonly confirmationTag: Uint8Array;
}

export interface ForkChoicePolicy {
  readonly name: string;
  /** Positive when `a` wins over its sibling `b`, negative when `b` wins. Never 0 for distinct epochs. */
  compareSiblings(a: EpochSummary, b: EpochSummary): number;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function compareIds(a: EpochSummary, b: EpochSummary): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * draft-kohbrok-mls-dmls's netsplit rule: the child whose commit has the lexicographically higher
 * confirmation tag wins (ties, which need a hash collision, fall to the larger event id).
 */
export const netsplitForkChoice: ForkChoicePolicy = {
  name: 'netsplit',
  compareSiblings(a, b) {
    return compareBytes(a.confirmationTag, b.confirmationTag) || compareIds(a, b);
  },
};

/**
 * The single-hub model (MSC4244): one named server sequences the room's commits, and the commit
 * it sequenced first wins. `sequenceOf` returns that server's position for a commit event (for
 * instance its stream ordering as that server served it), or undefined for a commit the
 * sequencer never accepted. A sequenced commit beats an unsequenced one; two unsequenced ones
 * fall back to the netsplit rule.
 */
export function sequencerForkChoice(options: {
  readonly server: string;
  readonly sequenceOf: (commitEventId: string) => number | undefined;
}): ForkChoicePolicy {
  return {
    name: `sequencer:${options.server}`,
    compareSiblings(a, b) {
      const sa = options.sequenceOf(a.id);
      const sb = options.sequenceOf(b.id);
      if (sa !== undefined && sb !== undefined && sa !== sb) return sb - sa;
      if (sa !== undefined && sb === undefined) return 1;
      if (sa === undefined && sb !== undefined) return -1;
      return netsplitForkChoice.compareSiblings(a, b);
    },
  };
}
