import type { Claim } from '../notebooks/claims.js';

/** One figure of the report: its static SVG. */
export interface ReportFigure {
  name: string;
  title: string;
  /** What the figure shows and what to conclude, one or two sentences. */
  caption: string;
  svg: string;
}

export interface ReportContent {
  title: string;
  /** When the page was made (from SOURCE_DATE_EPOCH); absent: not stated, so equal inputs give equal bytes. */
  generated?: string;
  /** The live what-if explorer (cli/explore/page-html.ts explorerSection), shown first. */
  explorer?: string;
  figures: ReportFigure[];
  claims: Claim[];
  assumptions: string[];
}

const VERDICT_CLASS: Record<string, string> = { holds: 'holds', partly: 'partly', 'does not hold': 'fails' };

/**
 * One static HTML page: the live explorer (its script inline, no network), every figure inline
 * (so it reads without JavaScript), the claims table and the assumptions behind every number.
 */
export function reportHtml(content: ReportContent): string {
  const figures = content.figures
    .map((f) => {
      return `<section class="figure" id="fig-${f.name}">
<h2>${escapeHtml(f.title)}</h2>
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
.caption { color: #444; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.4em; vertical-align: top; text-align: left; }
td.holds { background: #e8f5e9; } td.partly { background: #fff8e1; } td.fails { background: #ffebee; }
.note { color: #666; font-size: 0.9em; }
</style>
</head>
<body>
<h1>${escapeHtml(content.title)}</h1>
<p class="note">Generated ${content.generated === undefined ? '' : `${escapeHtml(content.generated)} `}by <code>kvr report</code>. Every number is simulated unless the figure says otherwise.</p>
${content.explorer === undefined ? '' : `<section id="explorer">\n<h2>Live what-if explorer: change any input, the simulator runs in this page</h2>\n${content.explorer}\n</section>`}
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
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
