/**
 * Compact sets of message indices, for a receiving chain's record of the message keys it gave up
 * (skipped past without keeping, or evicted from the skipped-key window): sorted, disjoint,
 * non-touching half-open ranges [from, to), stored flat as [from0, to0, from1, to1, …].
 *
 * The number of ranges is bounded. When a new range would exceed the bound, the two lowest ranges
 * are merged, with the gap between them: the indices in that gap (messages that were decrypted)
 * are then counted as given up. So ambiguity falls on the side of "key not kept", and only for the
 * oldest indices of a chain; a recent duplicate is still told apart exactly.
 */

export type IndexRanges = readonly number[];

/** The most ranges one record keeps (8 bytes each in a pickle). */
export const MAX_INDEX_RANGES = 16;

export const NO_RANGES: IndexRanges = Object.freeze([]);

// In the three loops below, `i < ranges.length` → `i <= ranges.length` (and, in the first `while`,
// → `true`) are equivalent mutants: past the end, `ranges[i]` and `ranges[i + 1]` are undefined, and
// every comparison with undefined is false, so each loop stops (or returns false) as it would.

/** True when `index` lies in one of the ranges. */
export function inRanges(ranges: IndexRanges, index: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) {
    if (index < ranges[i]!) return false;
    if (index < ranges[i + 1]!) return true;
  }
  return false;
}

/** A new set: `ranges` with [from, to) added (an empty range changes nothing), within the bound. */
export function withRange(ranges: IndexRanges, from: number, to: number): IndexRanges {
  if (from >= to) return ranges;
  const out: number[] = [];
  let i = 0;
  // Ranges entirely before the new one (not touching it) stay as they are.
  while (i < ranges.length && ranges[i + 1]! < from) {
    out.push(ranges[i]!, ranges[i + 1]!);
    i += 2;
  }
  // Ranges overlapping or touching the new one merge into it.
  let start = from;
  let end = to;
  while (i < ranges.length && ranges[i]! <= end) {
    start = Math.min(start, ranges[i]!);
    end = Math.max(end, ranges[i + 1]!);
    i += 2;
  }
  out.push(start, end);
  while (i < ranges.length) out.push(ranges[i++]!);
  while (out.length > 2 * MAX_INDEX_RANGES) out.splice(1, 2); // [a, b) and [c, d) become [a, d)
  return out;
}

/** True when `ranges` is well-formed (sorted, disjoint, non-touching, within the bound) and below `limit`. */
export function rangesAreValid(ranges: IndexRanges, limit: number): boolean {
  if (ranges.length % 2 !== 0 || ranges.length > 2 * MAX_INDEX_RANGES) return false;
  let previousEnd = -1;
  for (let i = 0; i < ranges.length; i += 2) {
    const from = ranges[i]!;
    const to = ranges[i + 1]!;
    if (!(from > previousEnd && from < to && to <= limit)) return false;
    previousEnd = to;
  }
  return true;
}
