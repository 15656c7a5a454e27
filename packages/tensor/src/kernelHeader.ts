// The header comment every kernels/<name>.wgsl starts with, parsed: it is the one machine-readable
// statement of a kernel's defines (with the defaults `pnpm kernel emit` uses), bindings and uniform
// layout, so tools and tests read it instead of keeping their own tables. Grammar (kernels/README.md):
//
//   // <what it computes, free text>
//   // Defines:
//   //   NAME = `default` -- allowed values; meaning
//   // Bindings (group 0):
//   //   @binding(0) name: type, read | read_write | uniform -- meaning
//   // Params:
//   //   field: type -- meaning
//
// A section header may say `none` after the colon; lines indented further continue the entry above.

export interface DefineDoc {
  name: string;
  /** Substituted verbatim for {{NAME}} when nothing overrides it. */
  default: string;
  doc: string;
}

export type BindingAccess = 'read' | 'read_write' | 'uniform';

export interface BindingDoc {
  binding: number;
  name: string;
  /** WGSL type as written in the kernel, define names bare (array<T>, not array<{{T}}>). */
  type: string;
  access: BindingAccess;
  doc: string;
}

export interface ParamDoc {
  name: string;
  type: string;
  doc: string;
}

export interface KernelHeader {
  /** The free text before the first section. */
  summary: string;
  defines: DefineDoc[];
  bindings: BindingDoc[];
  params: ParamDoc[];
}

type Section = 'Defines' | 'Bindings' | 'Params';
const SECTION = /^(Defines|Bindings|Params)( \(group 0\))?:\s*(none)?$/;
const DEFINE = /^([A-Z][A-Z0-9_]*) = `([^`]*)`(?: -- (.*))?$/;
const BINDING = /^@binding\((\d+)\) (\w+): (.+), (read|read_write|uniform)(?: -- (.*))?$/;
const PARAM = /^(\w+): (.+?)(?: -- (.*))?$/;

/** Parses the leading `//` comment block of a kernel source; throws naming the kernel and the line. */
export function parseKernelHeader(name: string, src: string): KernelHeader {
  const header: KernelHeader = { summary: '', defines: [], bindings: [], params: [] };
  const seen = new Set<Section>();
  const summary: string[] = [];
  let section: Section | undefined;
  let last: { doc: string } | undefined;
  const fail = (line: string, why: string): never => {
    throw new Error(`kernel "${name}": header line "${line}": ${why}`);
  };
  for (const line of src.split('\n')) {
    if (!line.startsWith('//') || line.startsWith('//!')) break;
    const text = line.slice(2);
    const body = text.trim();
    const indent = text.length - text.trimStart().length;
    const head = indent <= 1 ? SECTION.exec(body) : null;
    if (head) {
      section = head[1] as Section;
      if (seen.has(section)) fail(line, `second ${section} section`);
      seen.add(section);
      last = undefined;
    } else if (indent <= 1 || body === '') {
      section = undefined;
      if (body !== '' && seen.size) fail(line, 'free text after the sections (they come last)');
      summary.push(body);
    } else if (!section) {
      summary.push(body);
    } else if (indent >= 4) {
      const entry = last ?? fail(line, 'continuation without an entry');
      entry.doc = `${entry.doc} ${body}`.trim();
    } else if (section === 'Defines') {
      const m = DEFINE.exec(body) ?? fail(line, 'expected NAME = `default` -- doc');
      const d: DefineDoc = { name: m[1], default: m[2], doc: m[3] ?? '' };
      header.defines.push(d);
      last = d;
    } else if (section === 'Bindings') {
      const m = BINDING.exec(body) ?? fail(line, 'expected @binding(N) name: type, read|read_write|uniform -- doc');
      const b: BindingDoc = { binding: Number(m[1]), name: m[2], type: m[3], access: m[4] as BindingAccess, doc: m[5] ?? '' };
      header.bindings.push(b);
      last = b;
    } else {
      const m = PARAM.exec(body) ?? fail(line, 'expected field: type -- doc');
      const p: ParamDoc = { name: m[1], type: m[2], doc: m[3] ?? '' };
      header.params.push(p);
      last = p;
    }
  }
  for (const s of ['Defines', 'Bindings', 'Params'] as const) {
    if (!seen.has(s)) throw new Error(`kernel "${name}": header has no ${s} section (write "// ${s}: none" if empty)`);
  }
  header.summary = summary.filter((l) => l !== '').join(' ');
  return header;
}

/** The header's defaults as a defines record. */
export function defaultDefines(header: KernelHeader): Record<string, string> {
  return Object.fromEntries(header.defines.map((d) => [d.name, d.default]));
}
