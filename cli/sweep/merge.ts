/**
 * `kvr merge SPEC`: the outputs of `kvr sweep SPEC --shard i/N` (i = 1..N) combined into exactly
 * what `kvr sweep SPEC` writes unsharded: the spec gives the order, point k comes from shard
 * (k mod N) + 1, every row's id is checked against its point, and rows are rendered by the same
 * code, so the files are byte-identical.
 */
import { basename, dirname, join } from 'node:path';
import { KvrInputError } from '../../sim/errors.js';
import { appendText, lockOutput, readTextOrUndefined, type CliIo } from '../io.js';
import { oneLine } from '../load-json.js';
import { CSV_HEADER, csvLine, jsonLine, makeRow, readExisting, type Row } from './output.js';
import { fmt, outputPrefix, prepareSpec, resultOf, shardSize } from './run.js';
import { pointId, type ExpandedSpec } from './spec.js';

export interface MergeOptions {
  specPath: string;
  out?: string;
  /** Number of shards (default: found next to the output prefix). */
  shards?: number;
  yes?: boolean;
}

export interface MergeSummary {
  rows: number;
  shards: number;
  errors: number;
  csvPath: string;
  jsonlPath: string;
}

export function mergeShards(io: CliIo, options: MergeOptions): MergeSummary {
  const expanded = prepareSpec(io, options.specPath, options.yes === true);
  const prefix = outputPrefix(options.specPath, options.out, undefined);
  const count = options.shards ?? findShardCount(io, prefix);
  const shards: Row[][] = [];
  for (let i = 1; i <= count; i++) {
    const shardPrefix = outputPrefix(options.specPath, options.out, { index: i, count, source: '' });
    const csv = readTextOrUndefined(io, `${shardPrefix}.csv`);
    const jsonl = readTextOrUndefined(io, `${shardPrefix}.jsonl`);
    if (csv === undefined || jsonl === undefined) {
      throw new KvrInputError('merge', `shard ${i}/${count} has no output (${shardPrefix}.csv and .jsonl); run kvr sweep ${options.specPath} --shard ${i}/${count}`);
    }
    const rows = readExisting(csv, jsonl).rows;
    const expected = shardSize(expanded.total, { index: i, count, source: '' });
    if (rows.length < expected) {
      throw new KvrInputError('merge', `shard ${i}/${count} is incomplete: ${fmt(rows.length)} of ${fmt(expected)} rows (resume it: kvr sweep ${options.specPath} --shard ${i}/${count})`);
    }
    if (rows.length > expected) throw new KvrInputError('merge', `shard ${i}/${count} has ${fmt(rows.length)} rows, more than its ${fmt(expected)} (is it from another spec?)`);
    shards.push(rows);
  }
  const csvPath = `${prefix}.csv`;
  const jsonlPath = `${prefix}.jsonl`;
  const release = lockOutput(io, prefix, '--out');
  try {
    return writeMerged(io, shards, expanded, count, csvPath, jsonlPath);
  } finally {
    release();
  }
}

function writeMerged(io: CliIo, shards: Row[][], expanded: ExpandedSpec, count: number, csvPath: string, jsonlPath: string): MergeSummary {
  try {
    io.writeFile(csvPath, CSV_HEADER);
    io.writeFile(jsonlPath, '');
  } catch (error) {
    throw new KvrInputError('--out', `cannot write ${JSON.stringify(csvPath)}: ${oneLine(error)}`);
  }
  let index = 0;
  let errors = 0;
  let csvBuffer = '';
  let jsonBuffer = '';
  const flush = (): void => {
    appendText(io, csvPath, csvBuffer);
    appendText(io, jsonlPath, jsonBuffer);
    csvBuffer = '';
    jsonBuffer = '';
  };
  for (const point of expanded.points()) {
    const shard = index % count;
    const position = Math.floor(index / count);
    const row = shards[shard]![position]!;
    const id = pointId(point);
    if (row.id !== id || row.index !== index) {
      throw new KvrInputError('merge', `shard ${shard + 1}/${count} row ${position + 1} is scenario ${String(row.id)} (index ${String(row.index)}), the spec's point ${index} is ${id}: the shard was run on another spec`);
    }
    const merged = makeRow(index, id, point, resultOf(row));
    if (merged.error !== null) errors += 1;
    csvBuffer += csvLine(merged);
    jsonBuffer += jsonLine(merged);
    if (csvBuffer.length > 1 << 20) flush();
    index += 1;
  }
  flush();
  return { rows: index, shards: count, errors, csvPath, jsonlPath };
}

/** N of the PREFIX.shard-i-of-N.jsonl files beside the prefix; they must agree. */
function findShardCount(io: CliIo, prefix: string): number {
  const dir = dirname(prefix);
  const stem = basename(prefix);
  const counts = new Set<number>();
  for (const name of io.listDir?.(dir) ?? []) {
    if (!name.startsWith(`${stem}.shard-`)) continue;
    const match = /^\.shard-(\d+)-of-(\d+)\.jsonl$/.exec(name.slice(stem.length));
    if (match !== null) counts.add(Number(match[2]));
  }
  if (counts.size === 0) throw new KvrInputError('merge', `no shard outputs ${join(dir, `${stem}.shard-*-of-N.jsonl`)} (run kvr sweep with --shard i/N first, or pass --out and --shards)`);
  if (counts.size > 1) throw new KvrInputError('--shards', `shard outputs of several splits are there (${[...counts].sort((a, b) => a - b).map((n) => `of-${n}`).join(', ')}): pass --shards N`);
  return [...counts][0]!;
}
