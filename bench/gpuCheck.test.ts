import { describe, expect, it } from 'vitest';
import { formatReport, planSteps, reportLines, type Runner } from './gpuCheck.js';

const runner: Runner = { ts: (script, ...args) => ['node', 'tsx', script, ...args], vitest: (...args) => ['node', 'vitest', ...args] };

describe('gpu-check plan and report', () => {
  it('runs every step, shortening the model benches on a software adapter', () => {
    const gpu = planSteps({ software: false, fixtures: '.', runner });
    const sw = planSteps({ software: true, fixtures: '.', runner });
    expect(gpu.map((s) => s.name)).toEqual(['kernel tests (validation on)', 'fidelity', 'bench kernels --quick', 'bench compare', 'bench decoder', 'bench prior']);
    expect(sw.filter((s) => s.cmd.includes('--quick')).map((s) => s.cmd[3])).toEqual(['kernels', 'compare', 'decoder', 'prior']);
    expect(gpu[0].cmd).toEqual(['node', 'vitest', 'run', 'packages/tensor']);
    expect(gpu[2].cmd).toEqual(['node', 'tsx', 'bench/run.ts', 'kernels', '--quick']);
    expect(gpu.find((s) => s.name === 'bench decoder')!.cmd).not.toContain('--quick');
    expect(gpu[0].env).toEqual({ DALLE2_VALIDATE: '1' });
  });

  it('skips fidelity without fixtures and filters by --only', () => {
    const steps = planSteps({ software: true, fixtures: '/nonexistent/fixtures', runner });
    expect(steps.find((s) => s.name === 'fidelity')!.skip).toMatch(/no fixtures at \/nonexistent\/fixtures/);
    expect(planSteps({ software: true, fixtures: undefined, only: 'bench', runner }).map((s) => s.name)).toEqual([
      'bench kernels --quick', 'bench compare --quick', 'bench decoder --quick', 'bench prior --quick',
    ]);
  });

  it('starts the workspace CLIs with this node, without pnpm or npx', () => {
    const [tests, , kernels] = planSteps({ software: true, fixtures: undefined });
    expect(tests.cmd[0]).toBe(process.execPath);
    expect(tests.cmd[1]).toMatch(/vitest\.mjs$/);
    expect(kernels.cmd.slice(1, 4)).toEqual([expect.stringMatching(/tsx.*cli\.mjs$/), '--conditions=source', 'bench/run.ts']);
  });

  it('keeps tables and summaries, drops progress noise, caps length', () => {
    const out = ['Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced', '   ✓ a passing test', '| a | b |', '', 'done'];
    expect(reportLines(out.join('\n'))).toEqual(['| a | b |', 'done']);
    const many = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    const kept = reportLines(many, 10);
    expect(kept[0]).toBe('... (90 earlier lines)');
    expect(kept.at(-1)).toBe('line 99');
  });

  it('formats a report with one row and one section per step', () => {
    const step = { name: 'bench kernels --quick', cmd: ['pnpm', 'bench'], timeoutS: 1 };
    const md = formatReport('some adapter', [{ step, status: 'passed', seconds: 12.4, output: 'table' }], 12.4);
    expect(md).toContain('- adapter: some adapter');
    expect(md).toContain('| bench kernels --quick | passed | 12 |');
    expect(md).toContain('## bench kernels --quick: passed');
  });
});
