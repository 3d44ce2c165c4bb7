/**
 * Rows of a sweep's output: one per scenario, the same in CSV and JSON lines. A row is rendered
 * from its JSON object, so a row read back from a .jsonl file renders to the same bytes (resume
 * and merge rely on it).
 */
import { SCENARIO_KEYS, type Point } from './spec.js';

/** What a worker computes for one scenario. */
export interface RowResult {
  /** The scenario as resolved, defaults filled in, in base units (null for an invalid row). */
  gpu_count: number | null;
  context_tokens: number | null;
  /** Per-direction bandwidth of each GPU's link on a topology preset (--bandwidth or its default); null for a topology file. */
  bandwidth_Bps: number | null;
  /** GPU-to-GPU transfer latency on a topology preset (--latency or its default); null for a topology file. */
  latency_s: number | null;
  ttft_s: number | null;
  flops_total: number | null;
  comm_bytes_total: number | null;
  /** Largest peak memory of any rank. */
  peak_mem_bytes: number | null;
  fits: boolean | null;
  partition: number[] | null;
  gpu_profile: string | null;
  uncalibrated: boolean | null;
  /** Why the scenario is invalid (then the other results are null). */
  error: string | null;
}

export type RowValue = string | number | boolean | number[] | null;
export type Row = Record<string, RowValue>;

/** The key column of the `partition` scenario key (the result column `partition` is the partition used). */
export const GIVEN_PARTITION = 'given_partition';

const KEY_COLUMNS = SCENARIO_KEYS.map((key) => (key === 'partition' ? GIVEN_PARTITION : key));
const RESULT_COLUMNS = ['gpu_count', 'context_tokens', 'bandwidth_Bps', 'latency_s', 'ttft_s', 'flops_total', 'comm_bytes_total', 'peak_mem_bytes', 'fits', 'partition', 'gpu_profile', 'uncalibrated', 'error'] as const;

/** Every column, in order: index (position in the whole sweep), id, the scenario keys, the results. */
export const COLUMNS: readonly string[] = ['index', 'id', ...KEY_COLUMNS, ...RESULT_COLUMNS];

export const CSV_HEADER = `${COLUMNS.join(',')}\n`;

export function makeRow(index: number, id: string, point: Point, result: RowResult): Row {
  const row: Row = { index, id };
  for (const key of SCENARIO_KEYS) row[key === 'partition' ? GIVEN_PARTITION : key] = point[key] ?? null;
  for (const column of RESULT_COLUMNS) row[column] = result[column];
  return row;
}

export function jsonLine(row: Row): string {
  const ordered: Row = {};
  for (const column of COLUMNS) ordered[column] = row[column] ?? null;
  return `${JSON.stringify(ordered)}\n`;
}

export function csvLine(row: Row): string {
  return `${COLUMNS.map((column) => csvCell(row[column] ?? null)).join(',')}\n`;
}

function csvCell(value: RowValue): string {
  if (value === null) return '';
  const text = Array.isArray(value) ? value.join(',') : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Complete rows of an output pair: lines that end in a newline and agree between the files. */
export interface ExistingRows {
  rows: Row[];
  /** Whether the files hold more than those rows (a torn last line, or one file ahead). */
  extra: boolean;
}

/**
 * Reads back what an earlier run wrote. The JSON lines are the rows; a row counts only when its
 * CSV line is there too and equal to its rendering, so a run killed between (or inside) the two
 * writes loses at most its last row. A missing file means no rows.
 */
export function readExisting(csvText: string | undefined, jsonlText: string | undefined): ExistingRows {
  if (csvText === undefined || jsonlText === undefined) {
    return { rows: [], extra: (csvText ?? '').length > 0 || (jsonlText ?? '').length > 0 };
  }
  const jsonLines = completeLines(jsonlText);
  const csvLines = completeLines(csvText);
  const rows: Row[] = [];
  if (csvLines[0] !== CSV_HEADER) return { rows, extra: csvText.length > 0 || jsonlText.length > 0 };
  for (let i = 0; i < jsonLines.length && i + 1 < csvLines.length; i++) {
    let row: Row;
    try {
      row = JSON.parse(jsonLines[i]!) as Row;
    } catch {
      break;
    }
    if (typeof row !== 'object' || row === null || typeof row.id !== 'string' || jsonLine(row) !== jsonLines[i] || csvLine(row) !== csvLines[i + 1]) break;
    rows.push(row);
  }
  const written = CSV_HEADER.length + rows.reduce((n, row) => n + csvLine(row).length, 0);
  const extra = csvText.length !== written || jsonlText.length !== rows.reduce((n, row) => n + jsonLine(row).length, 0);
  return { rows, extra };
}

/** Lines with their newline; a last line without one (torn by a kill) is left out. */
function completeLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n', start);
    if (end < 0) return lines;
    lines.push(text.slice(start, end + 1));
    start = end + 1;
  }
}
