import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { processIo, type CliIo } from '../../cli/io.js';
import { findChromium } from '../../cli/chromium.js';

/** The page's document, as far as the callbacks run in the page use it (tests are type-checked without the DOM lib). */
declare const document: { querySelector(selector: string): { getAttribute(name: string): string | null } | null };

/** $KVR_CHROMIUM or a chromium on PATH (npm test's pretest step installs Debian's); the flags keep it off the network and the GPU. */
const LOOKUP = findChromium(process.env);
const CHROMIUM = LOOKUP.found ? LOOKUP.path : '';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('kvr report', () => {
  test('the HTML report loads in headless Chromium without console errors; every figure is drawn', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kvr-report-'));
    let printed = '';
    const io: CliIo = { ...processIo, stdout: (text) => (printed += text), stderr: () => undefined };
    expect(await runCli(['report', '--quick', '--out', out], io)).toBe(0);
    expect(printed).toMatch(/^wrote .*index\.html: \d+ figures, 5 claims \(quick grids\)/);
    expect(LOOKUP.found ? existsSync(CHROMIUM) : LOOKUP.reason).toBe(true);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(pathToFileURL(join(out, 'index.html')).href);
      // The live explorer (kvr explore's page, inline) runs the simulator in a worker of the page.
      await page.waitForSelector('#explorer [data-testid=result-ttft]', { timeout: 30_000 });
      expect(await page.$eval('#kvr-explorer', (root) => root.getAttribute('data-runner'))).toBe('worker');
      const figures = await page.$$eval('section.figure', (sections) =>
        sections.map((section) => {
          const svg = [...section.querySelectorAll('svg')].find((s) => s.getBoundingClientRect().width > 0);
          const box = svg?.getBoundingClientRect();
          return { id: section.id, width: box?.width ?? 0, height: box?.height ?? 0, marks: svg?.querySelectorAll('path, rect, line, circle, text').length ?? 0 };
        }),
      );
      expect(figures.length).toBeGreaterThanOrEqual(7);
      for (const figure of figures) {
        expect(figure.width, figure.id).toBeGreaterThan(100);
        expect(figure.height, figure.id).toBeGreaterThan(50);
        expect(figure.marks, figure.id).toBeGreaterThan(10);
      }
      // Changing the scenario simulates it again: four GPUs instead of eight take longer.
      const ttft = () => page.$eval('[data-testid=result-ttft]', (e) => Number(e.getAttribute('data-ttft-s')));
      const before = await ttft();
      await page.fill('[data-testid=scenario-gpus]', '4');
      await page.waitForFunction((old) => document.querySelector('[data-testid=result-ttft]')?.getAttribute('data-ttft-s') !== String(old), before);
      expect(await ttft()).toBeGreaterThan(before);
      const claims = await page.$$eval('#claims tbody tr', (rows) => rows.length);
      expect(claims).toBe(5);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
