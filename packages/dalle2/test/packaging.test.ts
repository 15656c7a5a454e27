// The packages as others consume them: README's generate() example run from the repository root, and
// packed tarballs of the four packages installed into a fresh project, where generate() and the
// `dalle2` bin work (kernels, tokenizer vocabulary and the demo model travel inside the tarballs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = ['tensor', 'sampler', 'models', 'dalle2'];
const SLOW = 600_000;

beforeAll(async () => {
  await run('pnpm', ['-s', 'build'], { cwd: ROOT }); // both cases run the built JavaScript
}, SLOW);
afterAll(removeTempDirs);

describe('consumers', () => {
  it("README's generate() example runs from the repository root", { timeout: SLOW }, async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Generating from Node'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1];
    expect(code).toContain("from '@dalle2/dalle2'");
    const file = join(ROOT, `.readme-example-${process.pid}.mts`);
    const cwd = await tempDir('dalle2-readme-');
    await writeFile(file, code);
    try {
      // a user would run `pnpm tsx <file>`; here tsx's loader is named by path since cwd is elsewhere
      const tsx = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
      await run(process.execPath, ['--import', tsx, file], { cwd });
    } finally {
      await rm(file, { force: true });
    }
    expect((await readdir(cwd)).filter((n) => n.endsWith('.png')).sort()).toEqual(['sample_0.png', 'sample_1.png']);
  });

  it('packed @dalle2/* tarballs install into a new project; generate() and the dalle2 bin run there', { timeout: SLOW }, async () => {
    const packs = await tempDir('dalle2-packs-');
    for (const p of PACKAGES) await run('pnpm', ['pack', '--pack-destination', packs], { cwd: join(ROOT, 'packages', p) });
    const tgz = (p: string) => `file:${join(packs, `dalle2-${p}-0.1.0.tgz`)}`;
    const project = await tempDir('dalle2-consumer-');
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({
        name: 'consumer', private: true, type: 'module',
        dependencies: { '@dalle2/dalle2': tgz('dalle2') },
        // the other packages are not on a registry: point their names at the tarballs
        pnpm: { overrides: Object.fromEntries(PACKAGES.filter((p) => p !== 'dalle2').map((p) => [`@dalle2/${p}`, tgz(p)])), onlyBuiltDependencies: ['sharp'] },
      }),
    );
    await run('pnpm', ['install', '--prefer-offline', '--reporter=silent'], { cwd: project });
    await writeFile(
      join(project, 'make.mjs'),
      "import { generate } from '@dalle2/dalle2';\nconst [im] = await generate('a red circle on a white background', { steps: 2 });\nprocess.stdout.write(`${im.width}x${im.height} ${im.png.length}`);\n",
    );
    const made = await run(process.execPath, ['make.mjs'], { cwd: project });
    expect(made.stdout).toMatch(/^32x32 \d+$/);
    const bin = await run(join(project, 'node_modules', '.bin', 'dalle2'), ['dream', 'a blue square', '--steps', '2', '-q', '--output-path', 'out'], { cwd: project });
    expect(bin.stderr).toBe('');
    expect(await readdir(join(project, 'out'))).toEqual(['a blue square_0.png']);
  });
});
