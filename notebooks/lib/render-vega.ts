/**
 * Vega-Lite spec -> SVG, headless: vega-lite compiles the spec to Vega, a Vega View with the
 * `none` renderer builds the scenegraph, and `toSVG()` serialises it. No browser, no native
 * canvas. Deterministic: the same spec gives the same bytes (text is measured with DejaVu Sans's
 * own metrics, SVG definition ids are reset before each render, nothing reads the clock).
 */
import * as vega from 'vega';
import { compile, type Config, type TopLevelSpec } from 'vega-lite';
import { FONT_FAMILY, isBold, textWidth } from './fonts.js';

/** Category colours: Tableau 10, distinguishable with the common colour-vision deficiencies. */
export const CATEGORY_SCHEME = 'tableau10';

/** The look of every figure: DejaVu Sans everywhere, white background, Tableau 10 categories. */
export const BASE_CONFIG: Config = {
  font: FONT_FAMILY,
  background: 'white',
  padding: 8,
  title: { font: FONT_FAMILY, subtitleFont: FONT_FAMILY, fontSize: 15, subtitleFontSize: 12, subtitleColor: '#555', anchor: 'start', offset: 10 },
  axis: { labelFont: FONT_FAMILY, titleFont: FONT_FAMILY, labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' },
  legend: { labelFont: FONT_FAMILY, titleFont: FONT_FAMILY, labelFontSize: 11, titleFontSize: 12, labelLimit: 480 },
  header: { labelFont: FONT_FAMILY, titleFont: FONT_FAMILY, labelFontSize: 12, titleFontSize: 12, titleFontWeight: 'normal' },
  text: { font: FONT_FAMILY },
  mark: { font: FONT_FAMILY },
  range: { category: { scheme: CATEGORY_SCHEME } },
  view: { stroke: '#ddd' },
};

interface TextItem {
  text?: unknown;
  fontSize?: number | string;
  fontWeight?: string | number;
  limit?: number;
}

interface TextMetrics {
  width: (item: TextItem, text?: unknown) => number;
}

/** Makes Vega measure text with DejaVu Sans (the same font resvg draws with). */
function useDejaVuMetrics(): void {
  const metrics = (vega as unknown as { textMetrics: TextMetrics }).textMetrics;
  metrics.width = (item, text) => {
    const value = text === undefined || text === null ? '' : String(text).trim();
    if (value.length === 0) return 0;
    const size = item.fontSize === undefined || item.fontSize === null ? 11 : Number(item.fontSize) || 0;
    const width = textWidth(value, size, isBold(item.fontWeight));
    // Vega truncates labels longer than `limit`; the shown text is then at most that wide.
    return item.limit !== undefined && item.limit > 0 ? Math.min(width, item.limit) : width;
  };
}

/** Vega-Lite -> Vega with the figure config underneath the spec's own config. */
export function compileVegaLite(spec: TopLevelSpec): vega.Spec {
  // Vega-Lite's optimiser notes (e.g. "Maximum optimization runs(5) reached") are not errors.
  return compile(spec, { config: BASE_CONFIG, logger: vega.logger(vega.Error) }).spec as vega.Spec;
}

/** Renders a Vega-Lite spec (with its data inline) to an SVG string. */
export async function renderVegaLite(spec: TopLevelSpec): Promise<string> {
  // Vega tags the data objects it ingests; render a copy so the caller's rows stay untouched.
  return renderVega(compileVegaLite(structuredClone(spec)));
}

/** Renders a Vega spec to an SVG string, headless. */
export async function renderVega(spec: vega.Spec): Promise<string> {
  useDejaVuMetrics();
  vega.resetSVGDefIds();
  const view = new vega.View(vega.parse(spec), { renderer: 'none', logLevel: vega.Warn });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
