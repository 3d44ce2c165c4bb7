import { formatQuantity } from '../sim/units/quantity.js';

/** "0.2059 s" -> "205.9 ms": seconds with four significant digits in a readable unit. */
export function formatSeconds(seconds: number): string {
  return formatQuantity(seconds, 'time');
}

/** Decimal bytes: 1.6e9 -> "1.6 GB". */
export function formatBytes(bytes: number): string {
  return formatQuantity(bytes, 'bytes');
}

export function formatRate(bytesPerSecond: number): string {
  return formatQuantity(bytesPerSecond, 'bandwidth');
}

/** Left-aligns the first column and right-aligns the rest, two spaces apart. */
export function renderTable(header: string[], rows: string[][], leftColumns = 1): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i < leftColumns ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
