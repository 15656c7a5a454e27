// The fast seeded subset of the fuzz campaign (issue 15): a fixed set of mutated checkpoints, configs and
// images must each load or be refused with the project's error naming the file, within the caps. The
// long run is `pnpm fuzz --minutes N`.
import { describe, expect, it } from 'vitest';
import { FORMATS, loadCorpus, makeCase } from './cases.js';
import { FINDINGS, formatCounts, runFuzz } from './runner.js';

describe('fuzz (seeded subset)', () => {
  it('cases are reproducible from (seed, index)', async () => {
    const corpus = await loadCorpus();
    for (const index of [0, 1, 2, 3, 17]) {
      const a = makeCase(corpus, 15, index);
      const b = makeCase(corpus, 15, index);
      expect(a.kind).toBe(b.kind);
      expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
    }
    expect(makeCase(corpus, 15, 0).format).toBe(FORMATS[0]);
  });

  it('240 cases: no crash, hang, oom, unnamed error or accepted hostile input', async () => {
    const corpus = await loadCorpus();
    // Generous time caps: the suite shares a small machine, and a hang is minutes, not seconds.
    const summary = await runFuzz(corpus, { seed: 15, count: 240, timeoutMs: 20_000, slowMs: 10_000, rssLimitMb: 1024 });
    const findings = summary.results.filter((r) => FINDINGS.includes(r.outcome));
    const report = `${formatCounts(summary)}\n${findings.map((r) => `#${r.index} ${r.kind}: ${r.outcome} ${r.errorName ?? ''} ${r.message ?? ''}`).join('\n')}`;
    expect(findings, report).toEqual([]);
    for (const f of FORMATS) {
      expect(summary.counts[f].error, report).toBeGreaterThan(0); // the mutations do reach the loaders' checks
    }
  }, 120_000);
});
