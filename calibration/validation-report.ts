import type { ValidationReport } from './validate.js';

const COLORS: Record<string, string> = {
  single: '#4c78a8',
  tsp: '#e45756',
  'tsp-causal': '#f58518',
  'kvr-e': '#54a24b',
  'kvr-s': '#b279a2',
  'kvr-p': '#9d755d',
};

/** The report as Markdown: provenance, per-strategy error summary, every case. */
export function validationMarkdown(report: ValidationReport, provenance: Record<string, unknown>): string {
  const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
  const seconds = (x: number) => (x >= 1 ? `${x.toFixed(3)} s` : `${(x * 1e3).toFixed(2)} ms`);
  const lines = [
    `# Validation of profile ${report.gpu} on ${report.device}`,
    '',
    `Backend ${report.backend}. Measured TTFT is the executor's median over repeated runs (links emulated`,
    'where there is more than one rank); predicted TTFT is the simulator with the same plan, profile and',
    'topology. Error = predicted / measured - 1. The cases differ from the calibration shapes.',
    '',
    ...Object.entries(provenance).map(([k, v]) => `- ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`),
    '',
    '| strategy | cases | mean abs error | max abs error |',
    '|---|---:|---:|---:|',
    ...report.summary.map((s) => `| ${s.strategy} | ${s.cases} | ${percent(s.mean_abs_error)} | ${percent(s.max_abs_error)} |`),
    `| all | ${report.overall.cases} | ${percent(report.overall.mean_abs_error)} | ${percent(report.overall.max_abs_error)} |`,
    '',
    '| model | strategy | ranks | context | link | partition | measured | predicted | error |',
    '|---|---|---:|---:|---:|---|---:|---:|---:|',
    ...report.rows.map(
      (r) =>
        `| ${r.model} | ${r.strategy} | ${r.gpus} | ${r.context} | ${r.gpus > 1 ? `${(r.bandwidth / 1e9).toPrecision(3)} GB/s${r.links === 'native' ? ' (native)' : ''}` : '-'} | ${r.partition.join(',')} | ${seconds(r.measured_s)} | ${seconds(r.predicted_s)} | ${percent(r.error)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

/**
 * Predicted vs measured TTFT on log axes, with the y = x line and a +-10% band, one colour per
 * strategy. Plain SVG so the report renders anywhere, byte-for-byte the same for the same data.
 */
export function validationSvg(report: ValidationReport): string {
  const [width, height, margin] = [520, 460, 60];
  const values = report.rows.flatMap((r) => [r.measured_s, r.predicted_s]).filter((v) => v > 0);
  const lo = Math.log10(Math.min(...values)) - 0.1;
  const hi = Math.log10(Math.max(...values)) + 0.1;
  const x = (v: number) => margin + ((Math.log10(v) - lo) / (hi - lo)) * (width - 2 * margin);
  const y = (v: number) => height - margin - ((Math.log10(v) - lo) / (hi - lo)) * (height - 2 * margin);
  const f = (n: number) => n.toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="14">Predicted vs measured TTFT (${escapeXml(report.gpu)}, ${escapeXml(report.device)})</text>`,
  ];
  const low = 10 ** lo;
  const high = 10 ** hi;
  parts.push(
    `<polygon points="${f(x(low))},${f(y(low * 0.9))} ${f(x(high))},${f(y(high * 0.9))} ${f(x(high))},${f(y(Math.min(high, high * 1.1)))} ${f(x(low))},${f(y(low * 1.1))}" fill="#eeeeee"/>`,
    `<line x1="${f(x(low))}" y1="${f(y(low))}" x2="${f(x(high))}" y2="${f(y(high))}" stroke="#888888" stroke-dasharray="4 3"/>`,
    `<rect x="${margin}" y="${margin}" width="${width - 2 * margin}" height="${height - 2 * margin}" fill="none" stroke="#333333"/>`,
  );
  for (let decade = Math.ceil(lo); decade <= Math.floor(hi); decade++) {
    const v = 10 ** decade;
    const label = v >= 1 ? `${v} s` : v >= 1e-3 ? `${v * 1e3} ms` : `${v * 1e6} us`;
    parts.push(`<text x="${f(x(v))}" y="${height - margin + 16}" text-anchor="middle">${label}</text>`);
    parts.push(`<text x="${margin - 6}" y="${f(y(v) + 4)}" text-anchor="end">${label}</text>`);
  }
  parts.push(`<text x="${width / 2}" y="${height - 18}" text-anchor="middle">measured TTFT</text>`);
  parts.push(`<text x="16" y="${height / 2}" text-anchor="middle" transform="rotate(-90 16 ${height / 2})">predicted TTFT</text>`);
  for (const r of report.rows) {
    parts.push(`<circle cx="${f(x(r.measured_s))}" cy="${f(y(r.predicted_s))}" r="4" fill="${COLORS[r.strategy] ?? '#333333'}"><title>${escapeXml(`${r.model} ${r.strategy} x${r.gpus} ${r.context}: ${(r.error * 100).toFixed(1)}%`)}</title></circle>`);
  }
  [...new Set(report.rows.map((r) => r.strategy))].forEach((strategy, i) => {
    parts.push(`<circle cx="${margin + 12}" cy="${margin + 14 + 16 * i}" r="4" fill="${COLORS[strategy] ?? '#333333'}"/>`);
    parts.push(`<text x="${margin + 22}" y="${margin + 18 + 16 * i}">${escapeXml(strategy)}</text>`);
  });
  parts.push(`<text x="${width - margin - 4}" y="${margin + 16}" text-anchor="end" fill="#666666">grey band: +-10%</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
