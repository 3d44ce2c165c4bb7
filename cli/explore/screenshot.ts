/**
 * Regenerates docs/explore.png, the README's picture of `kvr explore`: the page on a kvr-s
 * scenario (llama2-7b, 8 x a100-80g on the paper's 10 GB/s links, 16k tokens), in headless
 * Chromium as the tests drive it. `npm run explore:screenshot [-- OUT.png]`.
 */
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { findChromium } from '../chromium.js';
import { startExplorer } from '../commands/explore.js';
import { projectRoot } from '../project-root.js';

export const SCREENSHOT_QUERY = 'model=llama2-7b&gpu=a100-80g&gpus=8&topology=switch&bandwidth=10+GB%2Fs&context=16k&strategy=kvr-s';

async function main(out: string): Promise<void> {
  const lookup = findChromium(process.env);
  if (!lookup.found) throw new Error(`no Chromium: ${lookup.reason}`);
  const running = await startExplorer(0);
  const browser = await chromium.launch({ executablePath: lookup.path, args: ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars'], headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1180, height: 900 } });
    await page.goto(`${running.url}?${SCREENSHOT_QUERY}`);
    await page.waitForSelector('#kvr-explorer[data-state=done] [data-testid=result-ttft]', { timeout: 60_000 });
    // Timings vary run to run; the picture shows the page, not this machine's speed.
    await page.$eval('[data-testid=status]', (status) => (status.textContent = ''));
    await page.screenshot({ path: out, fullPage: true });
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
    await running.close();
  }
}

await main(process.argv[2] ?? join(projectRoot(), 'docs', 'explore.png'));
