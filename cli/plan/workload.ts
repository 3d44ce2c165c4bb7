/**
 * `kvr plan --context`: one prompt length, a weighted list ("4096:0.6,32768:0.3,131072:0.1";
 * weights are normalised), or percentiles ("p50=8192,p95=65536,p99=131072": the mass between two
 * percentiles is put at the upper one's length, so TTFT percentiles are never underestimated).
 */
import type { ContextDistribution } from '../../sim/capacity/capacity.js';
import { KvrInputError, describeValue } from '../../sim/errors.js';
import { parseTokens } from '../../sim/units/tokens.js';
import { MAX_CONTEXT } from '../../sim/plan/build-plan.js';

export function parseContextDistribution(text: string, field = '--context'): ContextDistribution {
  const items = text.split(',').map((item) => item.trim());
  if (items.some((item) => item.length === 0)) {
    throw new KvrInputError(field, `expected tokens, tokens:weight,... or pNN=tokens,... without empty items (got ${describeValue(text)})`);
  }
  const tokens = (value: string): number => parseTokens(value, field, { min: 1, max: MAX_CONTEXT });
  if (items.every((item) => /^p/i.test(item))) {
    const points: ContextDistribution['points'] = [];
    let previous = 0;
    let previousTokens = 0;
    for (const item of items) {
      const match = /^p(\d+(?:\.\d+)?)\s*=\s*(.+)$/i.exec(item);
      if (match === null) throw new KvrInputError(field, `expected pNN=tokens such as p95=65536 (got ${describeValue(item)})`);
      const p = Number(match[1]);
      const context = tokens(match[2]!.trim());
      if (!(p > previous && p <= 100)) throw new KvrInputError(field, `percentiles must increase within (0, 100] (got ${describeValue(item)} after p${previous})`);
      if (context < previousTokens) throw new KvrInputError(field, `lengths must not decrease with the percentile (got ${describeValue(item)})`);
      points.push({ context, weight: (p - previous) / 100 });
      previous = p;
      previousTokens = context;
    }
    return merge(points, Math.max(0, 1 - previous / 100));
  }
  const points = items.map((item) => {
    const [left, right, ...rest] = item.split(':');
    if (rest.length > 0) throw new KvrInputError(field, `expected tokens:weight (got ${describeValue(item)})`);
    const context = tokens(left!.trim());
    if (right === undefined) return { context, weight: 1 };
    const weight = Number(right.trim());
    if (right.trim() === '' || !Number.isFinite(weight) || weight <= 0) throw new KvrInputError(field, `weights must be numbers > 0 (got ${describeValue(item)})`);
    return { context, weight };
  });
  const sum = points.reduce((s, p) => s + p.weight, 0);
  return merge(points.map((p) => ({ context: p.context, weight: p.weight / sum })), 0);
}

/** Same lengths merged, sorted by length. */
function merge(points: ContextDistribution['points'], unknown: number): ContextDistribution {
  const byContext = new Map<number, number>();
  for (const p of points) byContext.set(p.context, (byContext.get(p.context) ?? 0) + p.weight);
  return { points: [...byContext.entries()].sort((a, b) => a[0] - b[0]).map(([context, weight]) => ({ context, weight })), unknown };
}

/** The highest percentile the distribution answers (100 unless percentiles stop below p100). */
export function maxPercentile(distribution: ContextDistribution): number {
  return Math.round((1 - distribution.unknown) * 1e6) / 1e4;
}

export function describeDistribution(distribution: ContextDistribution): string {
  if (distribution.points.length === 1 && distribution.unknown === 0) return `${distribution.points[0]!.context} tokens`;
  const parts = distribution.points.map((p) => `${p.context} (${(p.weight * 100).toFixed(p.weight * 100 < 1 ? 2 : 0)}%)`);
  return `contexts ${parts.join(', ')}${distribution.unknown > 0 ? `, ${(distribution.unknown * 100).toFixed(0)}% above` : ''}`;
}
