// The real `dalle2` process on the bundled model, as a user meets it: images written as they finish,
// Ctrl-C keeps them (exit 130), problems reported before any work (exit 2), per-image seeds, no Dawn
// adapter warnings, notices for variation and inpaint, parameters in every PNG and `dalle2 info`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { decodeImage, encodePng, type RgbImage } from '../src/image/index.js';
import { readParameters } from '../src/parameters.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
/** tsx's loader by path: the processes run in temporary directories. */
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const SLOW = 300_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Starts `dalle2 <args>` (tsx on the sources) in `cwd`; `onStart` may signal the process. */
function dalle2(args: string[], cwd: string, onStart?: (pid: number) => void): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, '--conditions=source', MAIN, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }));
    onStart?.(child.pid!);
  });
}

async function pngs(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

let dir: string;
beforeAll(async () => {
  dir = await tempDir('dalle2-cli-process-');
});
afterAll(removeTempDirs);

describe('dalle2 process', () => {
  it('writes each image as it finishes; SIGINT stops at the next step, keeps them and exits 130', { timeout: SLOW }, async () => {
    const out = join(dir, 'interrupted');
    let seenFirst = false;
    const run = await dalle2(['dream', 'a red circle on a white background', '--samples', '6', '--batch-size', '1', '--steps', '3', '--output-path', out], dir, (pid) => {
      const poll = setInterval(() => {
        void pngs(out).then((names) => {
          if (names.some((n) => n.endsWith('.png')) && !seenFirst) {
            seenFirst = true; // an image exists while the run is still going
            clearInterval(poll);
            process.kill(pid, 'SIGINT');
          }
        });
      }, 50);
    });
    expect(seenFirst).toBe(true);
    expect(run.code).toBe(130);
    const m = /interrupted: (\d) of 6 images written/.exec(run.stderr);
    expect(m, run.stderr).not.toBeNull();
    const names = await pngs(out);
    expect(names.length).toBe(Number(m![1]));
    expect(names.length).toBeGreaterThanOrEqual(1);
    expect(names.length).toBeLessThan(6);
    expect(names.every((n) => /^a red circle on a white background_\d\.png$/.test(n))).toBe(true); // no partial files
    expect(run.stdout.trim().split('\n')).toHaveLength(names.length);
  });

  it('reports a bad output location or option before loading anything, exit 2, one line', { timeout: SLOW }, async () => {
    await writeFile(join(dir, 'a-file'), 'x');
    const cases: [string[], RegExp][] = [
      [['dream', 'x', '--output-path', 'a-file'], /^dalle2 dream: --output-path .*a-file is a file, not a directory; see "dalle2 dream --help"\n$/],
      [['dream', 'x', '--output-path', 'a-file/sub'], /cannot be created: .*a-file is a file/],
      [['dream', 'x', '--output-path', '/proc/dalle2-test'], /--output-path \/proc\/dalle2-test is not a writable directory/],
      [['dream', 'x', '--decoder-steps', '4,4,4'], /--decoder-steps: 3 values for a decoder with 2 unets/],
      [['dream', 'x', '--cond-scale', '1,2,3'], /--cond-scale: 3 values for a decoder with 2 unets/],
      [['dream', 'x', '--cond-scale', '-1'], /--cond-scale: expected a number >= 0, got "-1"/],
      [['dream', '   '], /prompt 1 is empty/],
      [['dream', 'x', '--colour', 'red'], /^dalle2: unknown option --colour; see "dalle2 dream --help"\n$/],
      [['dream', 'red '.repeat(2500)], /prompt 1 is 2500 tokens long; the model reads at most 256: shorten it, or pass --truncate/],
    ];
    for (const [args, want] of cases) {
      const r = await dalle2([...args], dir);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(want);
      expect(r.stderr).not.toContain('adapter:'); // nothing was loaded
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    }
  });

  it('prints none of Dawn\'s adapter warnings; -q prints nothing but the paths', { timeout: SLOW }, async () => {
    const r = await dalle2(['dream', 'a blue square on a yellow background', '-q', '--steps', '2', '--output-path', 'quiet'], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${join(dir, 'quiet', 'a blue square on a yellow background_0.png')}\n`);
    const loud = await dalle2(['test'], dir);
    expect(loud.stderr).not.toMatch(/artificially reduced/);
  });

  it('image k of seed s is image 0 of seed s + k; the PNG holds its parameters; info prints the command that remakes it', { timeout: SLOW }, async () => {
    const run = await dalle2(['dream', 'a red circle on a white background', 'a green triangle on a black background', '--samples', '2', '--seed', '7', '--steps', '2', '-q', '--output-path', 'seeds'], dir);
    expect(run.code, run.stderr).toBe(0);
    const alone = await dalle2(['dream', 'a green triangle on a black background', '--seed', '8', '--steps', '2', '-q', '--output-path', 'alone'], dir);
    expect(alone.code).toBe(0);
    const a = await decodeImage(join(dir, 'seeds', 'a green triangle on a black background_1.png'));
    const b = await decodeImage(join(dir, 'alone', 'a green triangle on a black background_0.png'));
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    const png = await readFile(join(dir, 'seeds', 'a green triangle on a black background_1.png'));
    expect(readParameters(png)).toMatchObject({ kind: 'dream', prompt: 'a green triangle on a black background', seed: 8, runSeed: 7, sample: 1 });
    const info = await dalle2(['info', join(dir, 'seeds', 'a green triangle on a black background_1.png')], dir);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain('seed       8 (run seed 7, sample 1)');
    const remake = /remake {5}dalle2 (.*)\n/.exec(info.stdout)![1];
    expect(remake).toContain('--seed 8 --prior-steps 2 --decoder-steps 2,2');
    // the printed command, run as is, makes the same image
    const args = [...remake.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
    const again = await dalle2([...args, '-q', '--output-path', 'remade'], dir);
    expect(again.code, again.stderr).toBe(0);
    const c = await decodeImage(join(dir, 'remade', 'a green triangle on a black background_0.png'));
    expect(Buffer.from(c.data).equals(Buffer.from(a.data))).toBe(true);
    const none = await dalle2(['info', join(dir, 'a-file')], dir);
    expect(none.code).not.toBe(0);
  });

  it('--truncate keeps the first 256 tokens of a long prompt; help, --version and aliases', { timeout: SLOW }, async () => {
    const long = await dalle2(['dream', `a red circle ${'and '.repeat(400)}`, '--truncate', '--steps', '2', '-q', '--output-path', 'long', '--decoder-batch-size', '1', '--prior-sample-count', '1'], dir);
    expect(long.code, long.stderr).toBe(0);
    expect(await pngs(join(dir, 'long'))).toHaveLength(1);
    const help = await dalle2(['inpaint', '--help'], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: dalle2 inpaint/);
    expect(help.stdout).toContain('--mask <file>');
    expect(help.stdout).not.toContain('--prompt-file');
    const version = await dalle2(['--version'], dir);
    expect(version.stdout).toMatch(/^dalle2-ts \d+\.\d+\.\d+\n$/);
  });

  it('variation and inpaint: adapter line, summary and notices; an all-keep mask is refused before work', { timeout: SLOW }, async () => {
    const w = 48;
    const h = 40;
    const image: RgbImage = { width: w, height: h, data: new Uint8Array(w * h * 3).map((_, i) => (i * 7) % 256) };
    const keepAll: RgbImage = { width: w, height: h, data: new Uint8Array(w * h * 3).fill(255) };
    const half: RgbImage = { width: w, height: h, data: new Uint8Array(w * h * 3).map((_, i) => (Math.floor(i / 3) % w < w / 2 && i % 3 === 0 ? 255 : 0)) };
    await writeFile(join(dir, 'pic.png'), await encodePng(image));
    await writeFile(join(dir, 'keep.png'), await encodePng(keepAll));
    await writeFile(join(dir, 'half.png'), await encodePng(half));
    const v = await dalle2(['variation', 'pic.png', '--text', 'ignored words', '--steps', '2', '--output-path', 'var'], dir);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).toMatch(/^adapter: .*\nnote: the text is ignored: this decoder is not conditioned on text\n1 image\(s\) in [\d.]+ s in .*var; GPU memory/);
    expect(readParameters(await readFile(join(dir, 'var', 'pic_0.png')))).toMatchObject({ kind: 'variation', seed: 0 });
    const keep = await dalle2(['inpaint', '--image', 'pic.png', '--mask', 'keep.png', '--prompt', 'x', '--output-path', 'inp'], dir);
    expect(keep.code).toBe(2);
    expect(keep.stderr).toMatch(/--mask: keep\.png keeps every pixel \(red >= 128 everywhere\): nothing to inpaint/);
    expect(keep.stderr).not.toContain('adapter:');
    const inp = await dalle2(['inpaint', '--image', 'pic.png', '--mask', 'half.png', '--prompt', 'a blue square', '--steps', '2', '--output-path', 'inp'], dir);
    expect(inp.code, inp.stderr).toBe(0);
    expect(inp.stderr).toMatch(/^adapter: .*\nnote: pic\.png is 48x40: center-cropped to 40x40\nnote: pic\.png is resized from 40x40 to 32x32, the decoder's output size\n1 image\(s\) in/);
    expect(readParameters(await readFile(join(dir, 'inp', 'pic_0.png')))).toMatchObject({ kind: 'inpaint', prompt: 'a blue square', image: 'pic.png', mask: 'half.png' });
  });
});
