// `pnpm fuzz [--minutes N] [--count N] [--seed S] [--formats pth,safetensors,config,image] [--keep DIR]`:
// mutates the demo model's checkpoints and configs and generated images, loads each in a capped worker
// and prints counts per format and outcome. Inputs of findings are kept (default bench/results/fuzz).
import { parseArgs } from 'node:util';
import { FORMATS, loadCorpus, type Format } from './cases.js';
import { FINDINGS, formatCounts, runFuzz } from './runner.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string' },
    count: { type: 'string' },
    seed: { type: 'string' },
    formats: { type: 'string' },
    keep: { type: 'string', default: 'bench/results/fuzz' },
    timeout: { type: 'string' },
  },
});
const minutes = values.minutes === undefined ? undefined : Number(values.minutes);
const count = values.count === undefined ? undefined : Number(values.count);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const formats = (values.formats?.split(',') ?? FORMATS) as Format[];
for (const f of formats) if (!FORMATS.includes(f)) throw new Error(`--formats: unknown format "${f}" (one of ${FORMATS.join(', ')})`);

const corpus = await loadCorpus();
process.stdout.write(`fuzz: seed ${seed}, ${minutes ?? '-'} min, ${count ?? '-'} cases, formats ${formats.join(',')}\n`);
let n = 0;
const summary = await runFuzz(corpus, {
  seed,
  minutes: minutes ?? (count === undefined ? 1 : undefined),
  count,
  formats,
  keepDir: values.keep,
  timeoutMs: values.timeout === undefined ? undefined : Number(values.timeout),
  onResult: (r) => {
    n++;
    if (FINDINGS.includes(r.outcome)) process.stdout.write(`  #${r.index} ${r.format} ${r.kind}: ${r.outcome} (${r.ms} ms, ${r.peakRssMb} MB) ${r.errorName ?? ''} ${(r.message ?? '').slice(0, 200)}\n`);
    if (n % 200 === 0) process.stdout.write(`  ${n} cases\n`);
  },
});
process.stdout.write(`\n${formatCounts(summary)}\n\n${summary.results.length} cases in ${summary.seconds.toFixed(0)} s; worker peak RSS ${summary.peakRssMb} MB\n`);
const findings = summary.results.filter((r) => FINDINGS.includes(r.outcome)).length;
process.exitCode = findings > 0 ? 1 : 0;
