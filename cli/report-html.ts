import type { Claim } from '../notebooks/claims.js';

/** One figure of the report: its static SVG, and optionally a vega-lite spec to render live. */
export interface ReportFigure {
  name: string;
  title: string;
  /** What the figure shows and what to conclude, one or two sentences. */
  caption: string;
  svg: string;
  /** A vega-lite spec (data inlined) rendered in the browser with tooltips and scenario selectors. */
  interactive?: Record<string, unknown>;
}

export interface ReportContent {
  title: string;
  /** When the page was made (from SOURCE_DATE_EPOCH); absent: not stated, so equal inputs give equal bytes. */
  generated?: string;
  figures: ReportFigure[];
  claims: Claim[];
  assumptions: string[];
}

const VERDICT_CLASS: Record<string, string> = { holds: 'holds', partly: 'partly', 'does not hold': 'fails' };

/**
 * One static HTML page: every figure inline (so it reads without JavaScript), the interactive
 * views rendered by the vega and vega-lite builds copied next to it (vendor/, no network), the
 * claims table and the assumptions behind every number.
 */
export function reportHtml(content: ReportContent): string {
  const figures = content.figures
    .map((f) => {
      const live = f.interactive === undefined ? '' : `<div class="live" id="live-${f.name}" data-spec="live-spec-${f.name}"></div>\n<script type="application/json" id="live-spec-${f.name}">${jsonForScript(f.interactive)}</script>`;
      return `<section class="figure" id="fig-${f.name}">
<h2>${escapeHtml(f.title)}</h2>
${live}
<div class="static">${f.svg}</div>
<p class="caption">${escapeHtml(f.caption)}</p>
</section>`;
    })
    .join('\n');
  const claims = content.claims
    .map(
      (c) => `<tr><td>${escapeHtml(c.paper)}</td><td>${escapeHtml(c.scenario)}</td>${(['flash', 'eager'] as const)
        .map((a) => `<td class="${VERDICT_CLASS[c.results[a].verdict]}"><strong>${escapeHtml(c.results[a].verdict)}</strong><br>${escapeHtml(c.results[a].value)}</td>`)
        .join('')}</tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(content.title)}</title>
<style>
body { font-family: "DejaVu Sans", sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
.figure svg { max-width: 100%; height: auto; }
.live { margin-bottom: 1em; } .live:empty { display: none; }
.caption { color: #444; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.4em; vertical-align: top; text-align: left; }
td.holds { background: #e8f5e9; } td.partly { background: #fff8e1; } td.fails { background: #ffebee; }
.note { color: #666; font-size: 0.9em; }
</style>
<script src="vendor/vega.min.js"></script>
<script src="vendor/vega-lite.min.js"></script>
</head>
<body>
<h1>${escapeHtml(content.title)}</h1>
<p class="note">Generated ${content.generated === undefined ? '' : `${escapeHtml(content.generated)} `}by <code>kvr report</code>. Every number is simulated unless the figure says otherwise.</p>
${figures}
<section id="claims">
<h2>The paper's claims, reproduced</h2>
<table>
<thead><tr><th>Claim (Cho et al., ICML 2024)</th><th>Scenario</th><th>Flash-style attention</th><th>Eager attention (as the paper ran)</th></tr></thead>
<tbody>
${claims}
</tbody>
</table>
</section>
<section id="assumptions">
<h2>Assumptions</h2>
<ul>
${content.assumptions.map((a) => `<li>${escapeHtml(a)}</li>`).join('\n')}
</ul>
</section>
<script>
// Render the interactive views; the static SVG stays as the fallback and is hidden once live.
for (const container of document.querySelectorAll('.live')) {
  const spec = JSON.parse(document.getElementById(container.dataset.spec).textContent);
  const runtime = vega.parse(vegaLite.compile(spec).spec);
  new vega.View(runtime, { renderer: 'svg', container, hover: true })
    .runAsync()
    .then(() => { container.nextElementSibling.style.display = 'none'; });
}
</script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON safe inside a <script> element. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}
