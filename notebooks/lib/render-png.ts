/**
 * SVG -> PNG with resvg (@resvg/resvg-js; its prebuilt binary ships in the npm package). Fonts
 * come only from the `dejavu-fonts-ttf` package, never from the system, so every machine draws the
 * same pixels.
 */
import { Resvg, type RenderedImage } from '@resvg/resvg-js';
import { FONT_FAMILY, fontFiles } from './fonts.js';

export interface PngOptions {
  /** Pixels per SVG user unit (default 2: sharp on high-density screens and in print). */
  scale?: number;
}

export function svgToPng(svg: string, options: PngOptions = {}): Buffer {
  return rasterize(svg, options).asPng();
}

/** The rendered image (its `pixels` are RGBA), for checks that need the pixels themselves. */
export function rasterize(svg: string, options: PngOptions = {}): RenderedImage {
  const files = fontFiles();
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: options.scale ?? 2 },
    background: 'white',
    font: {
      fontFiles: [files.regular, files.bold],
      loadSystemFonts: false,
      defaultFontFamily: FONT_FAMILY,
      sansSerifFamily: FONT_FAMILY,
    },
  });
  return resvg.render();
}
