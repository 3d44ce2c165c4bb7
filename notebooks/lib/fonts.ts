/**
 * The one typeface of every figure: DejaVu Sans, loaded from the npm package `dejavu-fonts-ttf`
 * (not from the system), so layout and pixels are the same on every machine.
 *
 * Vega lays text out with a width function; without a native canvas it guesses 0.8 em per
 * character, which spreads legends and titles. `textWidth` measures with the font's own advance
 * widths instead (TrueType `hmtx` through `cmap`; no kerning), so the SVG's layout matches what
 * resvg draws.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const FONT_FAMILY = 'DejaVu Sans';

const require = createRequire(import.meta.url);

/** Absolute paths of the regular and bold DejaVu Sans TTFs shipped by `dejavu-fonts-ttf`. */
export function fontFiles(): { regular: string; bold: string } {
  const root = dirname(require.resolve('dejavu-fonts-ttf/package.json'));
  return { regular: join(root, 'ttf', 'DejaVuSans.ttf'), bold: join(root, 'ttf', 'DejaVuSans-Bold.ttf') };
}

/** Advance widths of one TrueType font, in em. */
export interface FontMetrics {
  /** Advance of a code point in em (the missing-glyph advance for code points the font lacks). */
  advance(codePoint: number): number;
}

/** Reads the advance widths of a TrueType font (tables head, hhea, hmtx and a Unicode cmap). */
export function parseTrueType(bytes: Uint8Array): FontMetrics {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tables = new Map<string, number>();
  const count = view.getUint16(4);
  for (let i = 0; i < count; i++) {
    const record = 12 + 16 * i;
    const tag = String.fromCharCode(bytes[record]!, bytes[record + 1]!, bytes[record + 2]!, bytes[record + 3]!);
    tables.set(tag, view.getUint32(record + 8));
  }
  const table = (tag: string): number => {
    const offset = tables.get(tag);
    if (offset === undefined) throw new Error(`font has no ${tag} table`);
    return offset;
  };
  const unitsPerEm = view.getUint16(table('head') + 18);
  const metricsCount = view.getUint16(table('hhea') + 34);
  const hmtx = table('hmtx');
  const advanceOf = (glyph: number): number => view.getUint16(hmtx + 4 * Math.min(glyph, metricsCount - 1)) / unitsPerEm;
  const glyphOf = cmapLookup(view, table('cmap'));
  const cache = new Map<number, number>();
  return {
    advance(codePoint: number): number {
      let width = cache.get(codePoint);
      if (width === undefined) {
        width = advanceOf(glyphOf(codePoint));
        cache.set(codePoint, width);
      }
      return width;
    },
  };
}

/** Glyph index of a code point from the font's Windows Unicode cmap (format 12, else format 4). */
function cmapLookup(view: DataView, cmap: number): (codePoint: number) => number {
  const subtables = view.getUint16(cmap + 2);
  let format4: number | undefined;
  let format12: number | undefined;
  for (let i = 0; i < subtables; i++) {
    const record = cmap + 4 + 8 * i;
    const platform = view.getUint16(record);
    const encoding = view.getUint16(record + 2);
    const offset = cmap + view.getUint32(record + 4);
    const format = view.getUint16(offset);
    if (platform === 3 && encoding === 10 && format === 12) format12 = offset;
    if (platform === 3 && encoding === 1 && format === 4) format4 = offset;
  }
  if (format12 !== undefined) {
    const groups = view.getUint32(format12 + 12);
    return (codePoint) => {
      for (let g = 0; g < groups; g++) {
        const group = format12 + 16 + 12 * g;
        const start = view.getUint32(group);
        if (codePoint < start) return 0;
        if (codePoint <= view.getUint32(group + 4)) return view.getUint32(group + 8) + codePoint - start;
      }
      return 0;
    };
  }
  if (format4 === undefined) throw new Error('font has no Unicode cmap');
  const segments = view.getUint16(format4 + 6) / 2;
  const ends = format4 + 14;
  const starts = ends + 2 * segments + 2;
  const deltas = starts + 2 * segments;
  const rangeOffsets = deltas + 2 * segments;
  return (codePoint) => {
    if (codePoint > 0xffff) return 0;
    for (let s = 0; s < segments; s++) {
      if (codePoint > view.getUint16(ends + 2 * s)) continue;
      const start = view.getUint16(starts + 2 * s);
      if (codePoint < start) return 0;
      const delta = view.getUint16(deltas + 2 * s);
      const rangeOffsetAt = rangeOffsets + 2 * s;
      const rangeOffset = view.getUint16(rangeOffsetAt);
      if (rangeOffset === 0) return (codePoint + delta) & 0xffff;
      const glyph = view.getUint16(rangeOffsetAt + rangeOffset + 2 * (codePoint - start));
      return glyph === 0 ? 0 : (glyph + delta) & 0xffff;
    }
    return 0;
  };
}

let metrics: { regular: FontMetrics; bold: FontMetrics } | undefined;

function loadMetrics(): { regular: FontMetrics; bold: FontMetrics } {
  if (metrics === undefined) {
    const files = fontFiles();
    metrics = { regular: parseTrueType(readFileSync(files.regular)), bold: parseTrueType(readFileSync(files.bold)) };
  }
  return metrics;
}

/** Whether a CSS/Vega font weight is drawn with the bold face. */
export function isBold(weight: string | number | undefined | null): boolean {
  if (weight === undefined || weight === null) return false;
  if (typeof weight === 'number') return weight >= 600;
  return weight === 'bold' || weight === 'bolder' || Number(weight) >= 600;
}

/** Width in pixels of a line of text in DejaVu Sans at a font size in pixels. */
export function textWidth(text: string, fontSize: number, bold = false): number {
  const font = bold ? loadMetrics().bold : loadMetrics().regular;
  let em = 0;
  for (const char of text) em += font.advance(char.codePointAt(0)!);
  return em * fontSize;
}
