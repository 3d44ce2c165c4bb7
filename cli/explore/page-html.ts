/**
 * The explorer as HTML: a section (its style, its container and its script inline, so it works
 * in a file opened from disk) that `kvr report` embeds, and the whole page `kvr explore` serves.
 */

export const EXPLORER_STYLE = `
.kvr-explorer { font-family: "DejaVu Sans", sans-serif; font-size: 14px; color: #222; }
.kvr-explorer form.controls { display: flex; flex-wrap: wrap; gap: 0.6em; }
.kvr-explorer fieldset { border: 1px solid #ccc; border-radius: 4px; padding: 0.4em 0.8em; min-width: 15em; }
.kvr-explorer fieldset.modes { flex-basis: 100%; }
.kvr-explorer legend { font-weight: bold; }
.kvr-explorer .row { display: grid; grid-template-columns: 11em 1fr; align-items: center; gap: 0.4em; margin: 0.2em 0; }
.kvr-explorer .row[hidden], .kvr-explorer fieldset[hidden] { display: none; }
.kvr-explorer textarea { width: 100%; font-family: monospace; font-size: 12px; }
.kvr-explorer .ticks { display: grid; grid-template-columns: repeat(4, auto auto auto); justify-content: start; gap: 0.2em; }
.kvr-explorer .actions { margin: 0.8em 0 0.2em; display: flex; gap: 0.6em; align-items: center; flex-wrap: wrap; }
.kvr-explorer code.cli { display: block; background: #f4f4f4; padding: 0.4em; white-space: pre-wrap; word-break: break-all; }
.kvr-explorer .headline { font-size: 1.15em; }
.kvr-explorer .note { color: #555; font-size: 0.9em; margin: 0.2em 0; }
.kvr-explorer .fits { color: #2e7d32; } .kvr-explorer .overflow, .kvr-explorer .error { color: #c62828; font-weight: bold; }
.kvr-explorer table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
.kvr-explorer td, .kvr-explorer th { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
.kvr-explorer td:first-child, .kvr-explorer th:first-child { text-align: left; }
.kvr-explorer svg { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
.kvr-explorer :focus-visible { outline: 2px solid #4e79a7; outline-offset: 1px; }
`;

/** The explorer section: style, container and the bundled script (see bundle.ts). */
export function explorerSection(script: string): string {
  return `<style>${EXPLORER_STYLE}</style>
<div id="kvr-explorer"></div>
<script id="kvr-explorer-script">${script}</script>`;
}

/** The page `kvr explore` serves. */
export function explorerPage(script: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>kvr explore: live what-if of prefill TTFT</title>
<style>body { max-width: 1100px; margin: 1.5em auto; padding: 0 1em; } h1 { font: bold 1.4em "DejaVu Sans", sans-serif; }</style>
</head>
<body>
<h1>kvr explore: what-if of prefill time-to-first-token</h1>
${explorerSection(script)}
</body>
</html>
`;
}
