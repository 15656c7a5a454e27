// The `dalle2` CLI: argument parsing, prompt files, output names, the TTY progress line, and the
// commands end to end on the bundled demo model (few sampling steps: exactness is tested elsewhere).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseCli, runCli, UsageError, type CliIo } from '../src/cli/index.js';
import { FileNamer, MAX_PROMPTS, MAX_PROMPT_FILE_BYTES, ProgressLine, promptFileStem, readPromptFile } from '../src/cli/output.js';
import { decodeImage, encodePng, type RgbImage } from '../src/image/index.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PROMPTS_JSON = fileURLToPath(new URL('../models/demo/samples/prompts.json', import.meta.url));
const SLOW = 600_000;

afterAll(removeTempDirs);

/** Captures what a command prints. */
function io(cwd: string, tty = false): CliIo & { stdoutText: () => string; stderrText: () => string } {
  let out = '';
  let err = '';
  return {
    cwd,
    stdout: { write: (s: string) => ((out += s), true) },
    stderr: { isTTY: tty, columns: 100, write: (s: string) => ((err += s), true) },
    stdoutText: () => out,
    stderrText: () => err,
  };
}

describe('argument parsing', () => {
  it('reads every flag', () => {
    const o = parseCli([
      'dream', 'a red circle', '--prompt-file', 'p.txt', '--model-config', 'm.json', '--output-path', 'out', '--samples', '3', '--seed', '42',
      '--steps', '8', '--cond-scale', '2,1', '--batch-size', '4', '-v', '--tune',
    ]);
    expect(o).toMatchObject({
      command: 'dream', positionals: ['a red circle'], promptFile: 'p.txt', modelConfig: 'm.json', outputPath: 'out', samples: 3, seed: 42,
      steps: 8, condScale: [2, 1], batchSize: 4, verbose: true, quiet: false, tune: true,
    });
    expect(parseCli(['dream', 'x']).tune).toBe(false);
    expect(parseCli(['inpaint', '--image', 'a.png', '--mask', 'm.png', '--prompt', 'x', '--image', 'b.png']).images).toEqual(['a.png', 'b.png']);
    expect(parseCli(['dream', 'x', '--decoder-steps', '4,2', '--prior-steps', '3'])).toMatchObject({ decoderSteps: [4, 2], priorSteps: 3 });
    expect(parseCli([]).command).toBe('help');
    expect(parseCli(['dream', '--help']).command).toBe('help');
  });

  it('names the flag or command that is wrong', () => {
    expect(() => parseCli(['paint'])).toThrow(/unknown command "paint"/);
    expect(() => parseCli(['dream', '--samples', '0'])).toThrow('--samples: expected an integer >= 1, got "0"');
    expect(() => parseCli(['dream', '--seed', 'abc'])).toThrow('--seed: expected an integer >= 0, got "abc"');
    expect(() => parseCli(['dream', '--cond-scale', '2,x'])).toThrow('--cond-scale: expected a number, got "x"');
    expect(() => parseCli(['dream', '--colour', 'red'])).toThrow(UsageError);
    expect(() => parseCli(['dream', '--sampels', '2'])).toThrow('unknown option --sampels (did you mean --samples?)');
    expect(() => parseCli(['dream', '--seed'])).toThrow('--seed needs a value (<n>)');
    expect(() => parseCli(['dream', '--mask', 'm.png'])).toThrow('--mask does not apply to "dream"');
    expect(() => parseCli(['help', 'paint'])).toThrow('no help for "paint": not a command');
  });

  it('takes negative numbers as values, dalle2-laion names as aliases, and per-command help', () => {
    expect(() => parseCli(['dream', 'x', '--cond-scale', '-1'])).toThrow('--cond-scale: expected a number >= 0, got "-1"');
    expect(() => parseCli(['dream', 'x', '--seed', '-3'])).toThrow('--seed: expected an integer >= 0, got "-3"');
    expect(parseCli(['dream', 'x', '--cond-scale=1.5,0'])).toMatchObject({ condScale: [1.5, 0] });
    expect(parseCli(['dream', 'x', '--prior-sample-count', '3', '--decoder-batch-size', '2', '--decoder-cond-scale', '2', '--prior-batch-size', '5'])).toMatchObject({
      samples: 3, decoderBatchSize: 2, condScale: [2], priorBatchSize: 5,
    });
    expect(parseCli(['dream', '--help'])).toMatchObject({ command: 'help', helpFor: 'dream' });
    expect(parseCli(['help', 'variation'])).toMatchObject({ command: 'help', helpFor: 'variation' });
    expect(parseCli(['--version']).command).toBe('version');
    expect(parseCli(['dream', '--', '--not-an-option']).positionals).toEqual(['--not-an-option']);
    expect(parseCli(['dream', 'x', '--queue', 'redis://127.0.0.1:6379/2', '--attempts', '5', '--result-ttl', '3600'])).toMatchObject({ queue: 'redis://127.0.0.1:6379/2', attempts: 5, resultTtl: 3600 });
    expect(() => parseCli(['dream', 'x', '--result-ttl', '5'])).toThrow('--result-ttl: expected an integer >= 60, got "5"');
    expect(() => parseCli(['worker', '--attempts', '2'])).toThrow('--attempts does not apply to "worker"');
  });
});

describe('hostile images (issue 15)', () => {
  it('variation refuses an SVG saved as .png by content, before loading any model', async () => {
    const dir = await tempDir();
    const evil = join(dir, 'evil.png');
    await writeFile(evil, '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><image href="secret.png"/></svg>');
    const t = io(dir);
    expect(await runCli(['variation', evil, '-q'], t)).toBe(1);
    expect(t.stderrText()).toMatch(/^dalle2 variation: cannot read image .*evil\.png: not a PNG, JPEG, WebP or GIF file by content/);
  });
});

describe('prompt files and output names', () => {
  it('reads .txt (one prompt per line) and the JSON shapes', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'p.txt'), 'a red circle on a white background\n\n  a blue square on a yellow background  \r\n');
    expect(await readPromptFile(join(dir, 'p.txt'))).toEqual(['a red circle on a white background', 'a blue square on a yellow background']);
    await writeFile(join(dir, 'a.json'), JSON.stringify(['one', 'two']));
    expect(await readPromptFile(join(dir, 'a.json'))).toEqual(['one', 'two']);
    await writeFile(join(dir, 'b.json'), JSON.stringify({ prompts: ['three'] }));
    expect(await readPromptFile(join(dir, 'b.json'))).toEqual(['three']);
    const demo = await readPromptFile(PROMPTS_JSON); // {"samples": [{"prompt": ...}]}
    expect(demo).toHaveLength(8);
    expect(demo[0]).toBe('a red circle on a white background');
    await writeFile(join(dir, 'c.json'), JSON.stringify({ prompts: ['ok', 3] }));
    await expect(readPromptFile(join(dir, 'c.json'))).rejects.toThrow(/prompt 1 is not a non-empty string/);
    await writeFile(join(dir, 'empty.txt'), '\n\n');
    await expect(readPromptFile(join(dir, 'empty.txt'))).rejects.toThrow(/holds no prompts/);
    await expect(readPromptFile(join(dir, 'missing.txt'))).rejects.toThrow(/cannot read/);
    // bounded: a huge (sparse) file is refused by its size before it is read; too many prompts by count
    const huge = join(dir, 'huge.txt');
    await writeFile(huge, '');
    await truncate(huge, MAX_PROMPT_FILE_BYTES + 1);
    await expect(readPromptFile(huge)).rejects.toThrow(`--prompt-file: ${huge} is ${MAX_PROMPT_FILE_BYTES + 1} bytes; prompt files may hold at most ${MAX_PROMPT_FILE_BYTES} bytes`);
    await writeFile(join(dir, 'many.txt'), 'x\n'.repeat(MAX_PROMPTS + 1));
    await expect(readPromptFile(join(dir, 'many.txt'))).rejects.toThrow(`holds ${MAX_PROMPTS + 1} prompts; at most ${MAX_PROMPTS} per run`);
  });

  it('names files after the prompt, safely and without collisions', () => {
    expect(promptFileStem('a red circle on a white background')).toBe('a red circle on a white background');
    expect(promptFileStem('../etc/passwd: "x"?')).toBe('__etc_passwd_ _x__');
    expect(promptFileStem('x'.repeat(300))).toHaveLength(120);
    expect(promptFileStem('   ')).toBe('image');
    const namer = new FileNamer();
    expect([namer.name('a', 0), namer.name('a', 1), namer.name('a', 0)]).toEqual(['a_0.png', 'a_1.png', 'a_0-2.png']);
  });

  it('draws progress in place on a TTY and stays silent elsewhere', () => {
    const tty = io('.', true);
    const line = new ProgressLine(tty.stderr);
    line.update({ stage: 'prior', batch: 0, batches: 1, step: 31, steps: 32 });
    line.update({ stage: 'decoder', batch: 0, batches: 1, unet: 2, unets: 2, step: 15, steps: 16 });
    line.done();
    expect(tty.stderrText()).toMatch(/^\rprior .*\[#+\] 32\/32 *\rdecoder unet 2\/2 .*16\/16 *\n$/);
    const pipe = io('.', false);
    const quiet = new ProgressLine(pipe.stderr);
    quiet.update({ stage: 'prior', batch: 0, batches: 1, step: 31, steps: 32 });
    quiet.done();
    expect(pipe.stderrText()).toBe('');
  });
});

describe('commands', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('dalle2-cli-');
  });

  it('help and usage errors', async () => {
    const h = io(dir);
    expect(await runCli(['help'], h)).toBe(0);
    expect(h.stdoutText()).toContain('usage: dalle2 <command>');
    const usage = io(dir);
    expect(await runCli(['dream', '--samples', '0'], usage)).toBe(2);
    expect(usage.stderrText()).toBe('dalle2: --samples: expected an integer >= 1, got "0"\n'); // one line, no help dump
    const bad = io(dir);
    expect(await runCli(['dream', '--samples', 'many'], bad)).toBe(2);
    expect(bad.stderrText()).toMatch(/^dalle2: --samples: expected an integer/);
    const none = io(dir);
    expect(await runCli(['dream'], none)).toBe(2);
    expect(none.stderrText()).toContain('dream needs at least one prompt');
    const missing = io(dir);
    expect(await runCli(['test', '--model-config', 'nope.json'], missing)).toBe(1);
    expect(missing.stderrText()).toMatch(/dalle2 test: .*nope\.json.*cannot read config file/s);
  });

  it('test: loads the bundled model and reports it', { timeout: SLOW }, async () => {
    const t = io(dir);
    expect(await runCli(['test'], t)).toBe(0);
    const text = t.stdoutText();
    expect(text).toMatch(/^clip +OpenAI CLIP ViT/m);
    expect(text).toMatch(/^prior +DiffusionPrior dim 64 depth 4/m);
    expect(text).toMatch(/^decoder +Decoder 16->32px/m);
    expect(text).toContain('353.9k params');
    expect(text).toMatch(/GPU memory +in use/);
  });

  it('dream --tune: measures the shapes of the run and saves them; the next run finds them stored', { timeout: SLOW }, async () => {
    const saved = process.env.DALLE2_TUNING_DIR;
    process.env.DALLE2_TUNING_DIR = join(dir, 'tuning');
    try {
      const args = ['dream', 'a red circle', '--steps', '1', '--output-path', 'tuned', '--tune'];
      const first = io(dir);
      expect(await runCli(args, first)).toBe(0);
      expect(first.stderrText()).toMatch(/tuning: measured [1-9]\d* shapes in \d+ s, \d+ now use another kernel; saved to .*tuning/);
      expect((await readdir(join(dir, 'tuning'))).filter((f) => f.endsWith('.json'))).toHaveLength(1);
      const second = io(dir);
      expect(await runCli(args, second)).toBe(0);
      expect(second.stderrText()).toContain('tuning: every shape of this run already has a stored choice');
    } finally {
      if (saved === undefined) delete process.env.DALLE2_TUNING_DIR;
      else process.env.DALLE2_TUNING_DIR = saved;
    }
  });

  it('dream: writes PNGs named after the prompts', { timeout: SLOW }, async () => {
    await writeFile(join(dir, 'prompts.txt'), 'a blue square on a yellow background\n');
    const t = io(dir, true);
    const code = await runCli(['dream', 'a red circle on a white background', '--prompt-file', 'prompts.txt', '--samples', '2', '--steps', '2', '--output-path', 'out', '--seed', '5'], t);
    expect(t.stderrText()).not.toMatch(/dalle2 dream:/);
    expect(code).toBe(0);
    expect((await readdir(join(dir, 'out'))).sort()).toEqual([
      'a blue square on a yellow background_0.png',
      'a blue square on a yellow background_1.png',
      'a red circle on a white background_0.png',
      'a red circle on a white background_1.png',
    ]);
    expect(t.stdoutText().trim().split('\n')).toHaveLength(4);
    expect(t.stderrText()).toContain('decoder unet 2/2');
    // lines printed while a progress line is drawn start on a line of their own
    expect(t.stderrText()).toMatch(/\nadapter: /);
    expect(t.stderrText()).not.toMatch(/[^\n]adapter: /);
    const img = await decodeImage(join(dir, 'out', 'a red circle on a white background_0.png'));
    expect([img.width, img.height]).toEqual([32, 32]);
  });

  it('variation: writes variations of an image', { timeout: SLOW }, async () => {
    const t = io(dir);
    const src = join(dir, 'out', 'a red circle on a white background_0.png');
    expect(await runCli(['variation', src, '--steps', '2', '--output-path', 'var', '-q'], t)).toBe(0);
    expect(await readdir(join(dir, 'var'))).toEqual(['a red circle on a white background_0_0.png']);
    const bad = io(dir);
    expect(await runCli(['variation', join(dir, 'prompts.txt')], bad)).toBe(2);
    expect(bad.stderrText()).toContain('is not a valid image file');
  });

  it('inpaint: keeps the pixels where the mask is red, regenerates the rest', { timeout: SLOW }, async () => {
    // a 40x32 image (center-cropped to 32x32: columns 4..35) and a mask keeping its left half
    const w = 40;
    const h = 32;
    const image: RgbImage = { width: w, height: h, data: new Uint8Array(w * h * 3) };
    const mask: RgbImage = { width: w, height: h, data: new Uint8Array(w * h * 3) };
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        image.data.set([(x * 6) % 256, (y * 8) % 256, 128], (y * w + x) * 3);
        mask.data.set(x < 4 + 16 ? [255, 0, 0] : [0, 0, 0], (y * w + x) * 3);
      }
    }
    await writeFile(join(dir, 'img.png'), await encodePng(image));
    await writeFile(join(dir, 'img_mask.png'), await encodePng(mask));
    const t = io(dir);
    const code = await runCli(['inpaint', '--image', 'img.png', '--mask', 'img_mask.png', '--prompt', 'a green triangle on a black background', '--steps', '2', '--output-path', 'inp'], t);
    // stderr: the adapter line, the crop note and the summary (no errors)
    expect(t.stderrText()).toContain('note: img.png is 40x32: center-cropped to 32x32');
    expect(code).toBe(0);
    expect(await readdir(join(dir, 'inp'))).toEqual(['img_0.png']);
    const out = await decodeImage(join(dir, 'inp', 'img_0.png'));
    let worst = 0;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 16; x++) {
        for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(out.data[(y * 32 + x) * 3 + c] - image.data[(y * w + x + 4) * 3 + c]));
      }
    }
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('runs as `pnpm dalle2` from the repository root', { timeout: SLOW }, async () => {
    const { stdout } = await promisify(execFile)('pnpm', ['--silent', 'dalle2', 'help'], { cwd: ROOT });
    expect(stdout).toContain('usage: dalle2 <command>');
  });
});
