// The page in real headless Chromium (Debian's chromium, driven by playwright-core) against
// `dalle2 serve` started as a user would (a child process, random port, bundled model): dream with a
// seed (progress, previews, the image and its parameters), cancel a running dream, paint a mask and
// inpaint, upload a file for variations, and the history after a reload. Screenshots go to
// test-output/web/ at the repository root.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePng, type RgbImage } from '../src/image/index.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-output', 'web');

let serverProcess: ChildProcess | undefined;
let base: string;
let context: BrowserContext;
let page: Page;

/** Starts `dalle2 serve --port 0` and resolves with the URL it prints. */
async function startServe(outputDir: string): Promise<string> {
  const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['--conditions=source', join(ROOT, 'packages/dalle2/src/cli/main.ts'), 'serve', '--port', '0', '--output-dir', outputDir, '-q'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  serverProcess = child;
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /dalle2 web UI: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`dalle2 serve exited (${code}): ${err}`)));
  });
}

beforeAll(async () => {
  if (process.env.DALLE2_SKIP_BROWSER === '1') return;
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh does), or set DALLE2_SKIP_BROWSER=1`);
  await mkdir(SHOTS, { recursive: true });
  base = await startServe(await tempDir('dalle2-page-'));
  context = await chromium.launchPersistentContext(await tempDir('dalle2-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (serverProcess && serverProcess.exitCode === null) {
    const exited = new Promise((r) => serverProcess!.once('exit', r));
    serverProcess.kill('SIGTERM');
    await exited;
  }
  await removeTempDirs();
});

async function setSettings(kind: string, o: { seed?: number; prior?: number; decoder: [number, number] }): Promise<void> {
  if (o.seed !== undefined) {
    await page.uncheck(`#${kind}-random-seed`);
    await page.fill(`#${kind}-seed`, String(o.seed));
  }
  if (o.prior !== undefined) await page.fill(`#${kind}-prior-steps`, String(o.prior));
  await page.fill(`#${kind}-decoder-steps-1`, String(o.decoder[0]));
  await page.fill(`#${kind}-decoder-steps-2`, String(o.decoder[1]));
}

/** The card of the newest job (cards are prepended). */
const newest = () => page.locator('#jobs .job').first();

/** Clicks a submit button and waits for the new job's card. */
async function submitJob(button: string): Promise<void> {
  const before = await page.locator('#jobs .job').count();
  await page.click(button);
  await expect.poll(() => page.locator('#jobs .job').count()).toBe(before + 1);
}

async function pngFile(width: number, height: number, colour: (x: number, y: number) => [number, number, number]): Promise<Buffer> {
  const img: RgbImage = { width, height, data: new Uint8Array(width * height * 3) };
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) img.data.set(colour(x, y), (y * width + x) * 3);
  return encodePng(img);
}

describe.skipIf(process.env.DALLE2_SKIP_BROWSER === '1')('web page in Chromium', () => {
  it('dream with a seed: progress, previews, the image with its parameters', async () => {
    await page.goto(base);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.locator('#dream-cond-1').count()).toBe(1); // one slider per decoder unet, built from /api/model
    expect(await page.locator('#dream-cond-2').count()).toBe(1);
    await page.fill('#dream-prompts', 'a red circle on a white background');
    await setSettings('dream', { seed: 42, prior: 2, decoder: [32, 16] });
    await submitJob('#dream-submit');
    await newest().locator('.progress-text', { hasText: /decoder unet \d\/2.*step \d+\/\d+/ }).waitFor();
    await newest().locator('.previews img').first().waitFor();
    await page.screenshot({ path: join(SHOTS, 'dream-progress.png') });
    await expect.poll(() => newest().getAttribute('data-state'), { timeout: 60_000 }).toBe('done');
    const figure = newest().locator('figure').first();
    await expect(figure.locator('pre').textContent()).resolves.toMatch(/prompt: a red circle on a white background\nseed 42 \(run 42, sample 0\)\nprior: 2 steps, cond scale 1\ndecoder: steps 32, 16; cond scale 2, 1/);
    expect(await figure.locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(32);
    expect(await figure.locator('a.download').getAttribute('href')).toMatch(/^\/files\/[0-9a-f-]{36}\/0\.png\?download=1$/);
    await page.screenshot({ path: join(SHOTS, 'dream-done.png') });
  });

  it('cancels a running dream', async () => {
    await page.fill('#dream-prompts', 'a blue square\na green triangle');
    await setSettings('dream', { prior: 32, decoder: [64, 32] });
    await submitJob('#dream-submit');
    await newest().locator('.progress-text', { hasText: 'step' }).waitFor();
    await newest().locator('button.cancel').click();
    await expect.poll(() => newest().getAttribute('data-state'), { timeout: 30_000 }).toBe('cancelled');
    await expect(newest().locator('.state').textContent()).resolves.toBe('cancelled');
  });

  it('paints a mask and inpaints; uploads a file for variations', async () => {
    await page.click('#tabs button[data-tab="inpaint"]');
    await page.setInputFiles('#inpaint-file', { name: 'stripes.png', mimeType: 'image/png', buffer: await pngFile(48, 32, (x) => (x % 8 < 4 ? [240, 240, 240] : [20, 20, 200])) });
    await page.waitForSelector('#inpaint-overlay[data-ready="true"]');
    await page.locator('#inpaint-overlay').scrollIntoViewIfNeeded();
    const box = (await page.locator('#inpaint-overlay').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height * 0.8, { steps: 8 });
    await page.mouse.up();
    await page.fill('#inpaint-prompt', 'a yellow circle');
    await setSettings('inpaint', { prior: 2, decoder: [2, 2] });
    await page.screenshot({ path: join(SHOTS, 'inpaint-mask.png') });
    await submitJob('#inpaint-submit');
    await expect.poll(() => newest().getAttribute('data-state'), { timeout: 60_000 }).toBe('done');
    await expect(newest().locator('strong').textContent()).resolves.toBe('inpaint');
    await expect(newest().locator('figure pre').textContent()).resolves.toMatch(/prompt: a yellow circle/);

    await page.click('#tabs button[data-tab="variation"]');
    await page.setInputFiles('#variation-file', { name: 'gradient.png', mimeType: 'image/png', buffer: await pngFile(40, 40, (x, y) => [x * 6, y * 6, 128]) });
    await page.fill('#variation-samples', '2');
    await setSettings('variation', { decoder: [2, 2] });
    expect(await page.locator('#variation-prior-steps').count()).toBe(0); // variations have no prior stage
    await submitJob('#variation-submit');
    await expect.poll(() => newest().getAttribute('data-state'), { timeout: 60_000 }).toBe('done');
    expect(await newest().locator('figure').count()).toBe(2);
    await page.screenshot({ path: join(SHOTS, 'variation-done.png'), fullPage: true });
  });

  it('shows every job again after a reload (history from the server)', async () => {
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await expect.poll(() => page.locator('#jobs .job').count()).toBe(4);
    expect(await page.locator('#jobs .job').evaluateAll((cards) => cards.map((c) => (c as HTMLElement).dataset.state))).toEqual(['done', 'done', 'cancelled', 'done']);
  });

  it('shows the API error of a bad request', async () => {
    await page.click('#tabs button[data-tab="dream"]');
    await page.fill('#dream-prompts', Array(9).fill('a red circle').join('\n'));
    await page.click('#dream-submit');
    await expect.poll(() => page.locator('#error').textContent()).toMatch(/^prompts: .*8/);
  });

  it('dalle2 serve stops cleanly on SIGTERM while a job runs', async () => {
    await page.fill('#dream-prompts', 'a red circle');
    await setSettings('dream', { prior: 32, decoder: [64, 32] });
    await submitJob('#dream-submit');
    await newest().locator('.progress-text', { hasText: 'step' }).waitFor();
    const exited = new Promise<number | null>((r) => serverProcess!.once('exit', (code) => r(code)));
    serverProcess!.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
