import { formatQuantity } from '../sim/units/quantity.js';

/** "0.2059 s" -> "205.9 ms": seconds with four significant digits in a readable unit. */
export function formatSeconds(seconds: number): string {
  return formatQuantity(seconds, 'time');
}

/**
 * A TTFT to compare with others or with a target: five significant digits, trailing zeros kept,
 * in a readable unit (2.0004 -> "2.0004 s", 2 -> "2.0000 s", 0.3287094 -> "328.71 ms").
 */
export function formatTtft(seconds: number): string {
  if (!Number.isFinite(seconds)) return `${seconds} s`;
  if (seconds === 0) return '0.0000 s';
  const units: [number, string][] = [
    [1, 's'],
    [1e-3, 'ms'],
    [1e-6, 'us'],
    [1e-9, 'ns'],
  ];
  for (const [scale, unit] of units) {
    const digits = (seconds / scale).toPrecision(5);
    // Rounding may carry into the next unit up (0.99999995 s is "1.0000 s", not "1000.0 ms").
    if (Math.abs(Number(digits)) >= 1 || unit === 'ns') return `${digits} ${unit}`;
  }
  return `${seconds} s`;
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
