// `pnpm kernel list` and `pnpm kernel emit <name> [KEY=VALUE ...]`: the kernel catalogue for people
// porting a kernel. `emit` prints plain WGSL (includes expanded, defines substituted, header defaults
// for every define not given) that a browser WebGPU page compiles as is.
import { effectiveDefines, emitKernel, kernelHeader, kernelNames, requiredFeatures } from '../kernelCatalog.js';

const USAGE = `usage: pnpm kernel list
       pnpm kernel emit <name> [KEY=VALUE ...]   (e.g. pnpm kernel emit binary T=f32 EXPR='x * y')`;

function list(): string {
  const lines: string[] = [];
  for (const name of kernelNames()) {
    const h = kernelHeader(name);
    lines.push(`${name}: ${h.summary.split('. ')[0].replace(/\.$/, '')}`);
    for (const d of h.defines) lines.push(`    ${d.name} = ${d.default === '' ? "''" : d.default}${d.doc ? `    (${d.doc})` : ''}`);
  }
  return lines.join('\n');
}

function parseDefines(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new Error(`expected KEY=VALUE, got "${a}"\n${USAGE}`);
    out[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return out;
}

function emit(name: string | undefined, args: readonly string[]): string {
  if (!name) throw new Error(USAGE);
  if (!kernelNames().includes(name)) throw new Error(`no kernel "${name}" (pnpm kernel list shows them)`);
  const overrides = parseDefines(args);
  const code = emitKernel(name, overrides);
  const used = Object.entries(effectiveDefines(name, overrides)).map(([k, v]) => `${k}=${/[\s']/.test(v) || v === '' ? `'${v}'` : v}`);
  const features = requiredFeatures(code);
  // Provenance first (comments may precede `enable`), so a pasted shader says where it came from; the
  // header below it still shows the defaults.
  const banner = [
    `// dalle2-ts kernels/${name}.wgsl, emitted by pnpm kernel emit with ${used.join(' ')}`,
    `// Device features needed: ${features.length ? features.join(', ') : 'none'}`,
  ];
  return `${banner.join('\n')}\n${code}`;
}

function main(argv: readonly string[]): void {
  const [cmd, name, ...rest] = argv;
  if (cmd === 'list') process.stdout.write(`${list()}\n`);
  else if (cmd === 'emit') process.stdout.write(emit(name, rest));
  else throw new Error(USAGE);
}

try {
  main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
