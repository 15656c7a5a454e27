// `pnpm gpu-check`: one command for the first minutes on a new adapter (a lent GPU, a user's machine):
// kernel tests with validation on, fidelity against the upstream fixtures, the kernel benches, the
// same-run PyTorch comparison and the LAION-shaped model benches, written to one report file
// (bench/results/gpu-check-<stamp>.md). On a software adapter the slow model cases are shortened
// (--quick) so the whole check fits a few minutes there too. Exit status 1 when any step failed.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Step {
  name: string;
  /** Command and arguments, run from the repository root. */
  cmd: string[];
  timeoutS: number;
  env?: Record<string, string>;
  /** Why the step does not run (shown in the report). */
  skip?: string;
}

export interface PlanOptions {
  software: boolean;
  fixtures: string | undefined;
  /** Only steps whose name contains this. */
  only?: string;
  /** How to start the workspace's TypeScript entry points and vitest (default: this node + the workspace's tsx / vitest). */
  runner?: Runner;
}

/** Commands for a TypeScript entry point and for vitest: plain `node` + the workspace's own CLIs, so the
 * check needs no pnpm or npx (a GPU machine may have neither, nor a network; see scripts/gpu-bundle.sh). */
export interface Runner {
  ts: (script: string, ...args: string[]) => string[];
  vitest: (...args: string[]) => string[];
}

export function workspaceRunner(): Runner {
  const req = createRequire(import.meta.url);
  const node = process.execPath;
  return {
    ts: (script, ...args) => [node, req.resolve('tsx/cli'), '--conditions=source', script, ...args],
    vitest: (...args) => [node, req.resolve('vitest/vitest.mjs'), ...args],
  };
}

/** The steps for an adapter: full model benches on a real GPU, shortened ones on a software adapter. */
export function planSteps(o: PlanOptions): Step[] {
  const quick = o.software ? ['--quick'] : [];
  const r = o.runner ?? workspaceRunner();
  const bench = (...args: string[]) => r.ts('bench/run.ts', ...args);
  const steps: Step[] = [
    { name: 'kernel tests (validation on)', cmd: r.vitest('run', 'packages/tensor'), timeoutS: 900, env: { DALLE2_VALIDATE: '1' } },
    o.fixtures && existsSync(o.fixtures)
      ? { name: 'fidelity', cmd: r.ts('packages/dalle2/src/fidelity/cli.ts', '--fixtures', o.fixtures), timeoutS: 600 }
      : { name: 'fidelity', cmd: [], timeoutS: 0, skip: `no fixtures at ${o.fixtures ?? '(none given)'}` },
    { name: 'bench kernels --quick', cmd: bench('kernels', '--quick'), timeoutS: 300 },
    { name: `bench compare${o.software ? ' --quick' : ''}`, cmd: bench('compare', ...quick), timeoutS: 600 },
    // GPU: the LAION v1.0.2-shaped unet and the LAION-sized priors; software: fixture models only.
    { name: `bench decoder${o.software ? ' --quick' : ''}`, cmd: bench('decoder', ...quick), timeoutS: 900 },
    { name: `bench prior${o.software ? ' --quick' : ''}`, cmd: bench('prior', ...quick), timeoutS: 900 },
  ];
  return o.only ? steps.filter((s) => s.name.includes(o.only!)) : steps;
}

export interface StepResult {
  step: Step;
  status: 'passed' | 'failed' | 'timed out' | 'skipped';
  seconds: number;
  output: string;
}

function runStep(step: Step): Promise<StepResult> {
  if (step.skip) return Promise.resolve({ step, status: 'skipped', seconds: 0, output: step.skip });
  const t0 = performance.now();
  return new Promise((done) => {
    const child = spawn(step.cmd[0], step.cmd.slice(1), { cwd: ROOT, env: { ...process.env, ...step.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (d: Buffer) => {
      process.stdout.write(d);
      output += d.toString();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, step.timeoutS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      done({ step, status: timedOut ? 'timed out' : code === 0 ? 'passed' : 'failed', seconds, output });
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      done({ step, status: 'failed', seconds: (performance.now() - t0) / 1000, output: `${output}\n${e.message}` });
    });
  });
}

/** The lines worth keeping from a step: tables, summaries and errors, not progress noise. */
export function reportLines(output: string, max = 80): string[] {
  const lines = output.split('\n').filter((l) => l.trim() && !/^Warning: max(Dynamic)/.test(l) && !/^\s+✓ /.test(l));
  return lines.length > max ? [`... (${lines.length - max} earlier lines)`, ...lines.slice(-max)] : lines;
}

export function formatReport(adapter: string, results: StepResult[], totalS: number): string {
  const out = [
    '# gpu-check',
    '',
    `- date: ${new Date().toISOString()}`,
    `- adapter: ${adapter}`,
    `- total: ${totalS.toFixed(0)} s`,
    '',
    '| step | status | seconds |',
    '|---|---|---:|',
    ...results.map((r) => `| ${r.step.name} | ${r.status} | ${r.seconds.toFixed(0)} |`),
  ];
  for (const r of results) {
    out.push('', `## ${r.step.name}: ${r.status}`, '', r.step.cmd.length ? `\`${r.step.cmd.join(' ')}\`` : '', '', '```', ...reportLines(r.output), '```');
  }
  return `${out.join('\n')}\n`;
}

async function adapterInfo(): Promise<{ describe: string; software: boolean }> {
  const { Runtime } = await import('@dalle2/tensor');
  const rt = await Runtime.create();
  try {
    return { describe: rt.describe(), software: rt.info.isSoftware };
  } finally {
    await rt.destroy();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { fixtures: { type: 'string' }, only: { type: 'string' }, out: { type: 'string' } } });
  // relative paths: the caller's directory when pnpm ran this very script (as @dalle2/dalle2's callerCwd)
  const cwd = process.env.npm_lifecycle_event === 'gpu-check' && process.env.INIT_CWD ? process.env.INIT_CWD : process.cwd();
  // ../shared beside the checkout here; a copy inside the checkout where only the working tree travels.
  const defaultFixtures = [join(ROOT, '..', 'shared', 'fixtures'), join(ROOT, 'shared', 'fixtures')].find((d) => existsSync(d));
  const fixtures = values.fixtures ? resolve(cwd, values.fixtures) : defaultFixtures;
  const adapter = await adapterInfo();
  console.log(`gpu-check on ${adapter.describe}${adapter.software ? ' (software adapter: model benches shortened)' : ''}`);
  const t0 = performance.now();
  const results: StepResult[] = [];
  for (const step of planSteps({ software: adapter.software, fixtures, only: values.only })) {
    console.log(`\n=== ${step.name} ===`);
    const r = await runStep(step);
    console.log(`=== ${step.name}: ${r.status} in ${r.seconds.toFixed(0)} s ===`);
    results.push(r);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const file = values.out ? resolve(cwd, values.out) : join(ROOT, 'bench', 'results', `gpu-check-${stamp}.md`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, formatReport(adapter.describe, results, (performance.now() - t0) / 1000));
  console.log(`\n${results.map((r) => `${r.step.name}: ${r.status}`).join('\n')}\nreport: ${file}`);
  return results.some((r) => r.status === 'failed' || r.status === 'timed out') ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`gpu-check: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      process.exit(2);
    },
  );
}
