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

const TIME_UNITS: [number, string][] = [
  [1, 's'],
  [1e-3, 'ms'],
  [1e-6, 'us'],
  [1e-9, 'ns'],
];

/**
 * A column of times in one unit, chosen by the column's largest value; the decimals are those that
 * give its smallest non-zero value `digits` significant digits (at most 6), so every row keeps at
 * least that precision ([1.2823, 0.16803] s -> "1.28230 s", "0.16803 s").
 */
export function formatSecondsColumn(values: number[], digits = 4): string[] {
  const finite = values.filter((v) => Number.isFinite(v) && v !== 0).map((v) => Math.abs(v));
  const largest = Math.max(0, ...finite);
  const [scale, unit] = TIME_UNITS.find(([s]) => largest >= s) ?? TIME_UNITS[TIME_UNITS.length - 1]!;
  const smallest = finite.length === 0 ? 1 : Math.min(...finite) / scale;
  const decimals = Math.min(6, Math.max(0, digits - (Math.floor(Math.log10(smallest)) + 1)));
  return values.map((v) => (Number.isFinite(v) ? `${(v / scale).toFixed(decimals)} ${unit}` : `${v}`));
}

/** Memory sizes (capacity, KV-cache, peak): binary, as HBM is sized: 80 * 2^30 -> "80.0 GiB". */
export function formatMemory(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let scaled = bytes;
  let index = 0;
  while (Math.abs(scaled) >= 1024 && index < units.length - 1) {
    scaled /= 1024;
    index += 1;
  }
  return `${index === 0 ? String(scaled) : scaled.toFixed(1)} ${units[index]}`;
}

/**
 * A column of byte counts in one unit chosen by its largest value: decimal (GB = 1e9 B, traffic,
 * as NCCL prints) or binary (GiB = 2^30 B, memory, as HBM is sized); 4 significant digits at most.
 */
export function formatBytesColumn(values: number[], base: 'decimal' | 'binary'): string[] {
  const step = base === 'decimal' ? 1000 : 1024;
  const units = base === 'decimal' ? ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] : ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  const largest = Math.max(0, ...values.filter((v) => Number.isFinite(v)).map((v) => Math.abs(v)));
  let index = 0;
  while (largest >= step ** (index + 1) && index < units.length - 1) index += 1;
  const scaled = largest / step ** index;
  const decimals = index === 0 ? 0 : Math.max(0, 4 - (Math.floor(Math.log10(Math.max(scaled, 1))) + 1));
  return values.map((v) => `${(v / step ** index).toFixed(decimals)} ${units[index]}`);
}

/**
 * A partition for a headline: up to 8 chunks listed; more as "2048 x 64" when even, else the
 * first three and the last two with the count and range ("9000,8800,8600,...,700,640 (64 chunks, 640..9000)").
 */
export function formatPartition(chunks: number[]): string {
  if (chunks.length <= 8) return chunks.join(',');
  const first = chunks[0]!;
  if (chunks.every((c) => c === first)) return `${first} x ${chunks.length}`;
  const min = Math.min(...chunks);
  const max = Math.max(...chunks);
  return `${chunks.slice(0, 3).join(',')},...,${chunks.slice(-2).join(',')} (${chunks.length} chunks, ${min}..${max}; all in --json)`;
}
