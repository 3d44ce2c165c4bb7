/** The per-rank timeline's slices, as the explorer's worker sends them to the page. */

/** Ranks the timeline draws: a 64-GPU plan's first 16 (the worker sends no more). */
export const TIMELINE_RANKS = 16;

/**
 * One slice of the per-rank timeline: rank, track (0 compute, 1 send, 2 recv), name, start and
 * length in microseconds, and how many trace slices it stands for (see compactSlices).
 */
export type TimelineSlice = [rank: number, track: number, name: string, startUs: number, durationUs: number, count: number];

/**
 * Joins back-to-back slices of one name on one track when the gap between them is under
 * `gapUs` (half a pixel of a 1000-pixel timeline): a tp plan's thousands of collective steps
 * per rank become a few bars a browser draws at once, and nothing visible is lost.
 */
export function compactSlices(slices: TimelineSlice[], gapUs: number): TimelineSlice[] {
  const sorted = [...slices].sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[3] - b[3]);
  const out: TimelineSlice[] = [];
  for (const slice of sorted) {
    const last = out.at(-1);
    if (last !== undefined && last[0] === slice[0] && last[1] === slice[1] && last[2] === slice[2] && slice[3] - (last[3] + last[4]) <= gapUs) {
      last[4] = Math.max(last[4], slice[3] + slice[4] - last[3]);
      last[5] += slice[5];
    } else {
      out.push([...slice]);
    }
  }
  return out;
}
