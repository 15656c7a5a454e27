// Prompt files, output file names and the progress line of the CLI.
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import type { GenerateProgress } from '../generate.js';
import { UsageError } from './args.js';

/** Bounds of a prompt file (64 MiB of text; 1M prompts is already days of GPU time). */
export const MAX_PROMPT_FILE_BYTES = 64 * 1024 * 1024;
export const MAX_PROMPTS = 1_000_000;

/**
 * Prompts from a file: `.json` holds a list of strings, `{"prompts": [...]}` or
 * `{"samples": [{"prompt": ...}]}` (the demo model's prompts.json); anything else is text with one
 * prompt per non-empty line.
 */
export async function readPromptFile(path: string): Promise<string[]> {
  let text: string;
  try {
    // A prompt list is text: a file far bigger than any list is a mistake, refused before reading it.
    const size = (await stat(path)).size;
    if (size > MAX_PROMPT_FILE_BYTES) throw new UsageError(`--prompt-file: ${path} is ${size} bytes; prompt files may hold at most ${MAX_PROMPT_FILE_BYTES} bytes`);
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--prompt-file: cannot read ${path}: ${(err as Error).message}`);
  }
  let prompts: unknown[];
  if (extname(path).toLowerCase() === '.json') {
    let doc: unknown;
    try {
      doc = JSON.parse(text) as unknown;
    } catch (err) {
      throw new UsageError(`--prompt-file: ${path} is not valid JSON: ${(err as Error).message}`);
    }
    const obj = doc as Record<string, unknown> | null;
    if (Array.isArray(doc)) prompts = doc;
    else if (obj && Array.isArray(obj.prompts)) prompts = obj.prompts;
    else if (obj && Array.isArray(obj.samples)) prompts = obj.samples.map((s) => (s as { prompt?: unknown } | null)?.prompt);
    else throw new UsageError(`--prompt-file: ${path}: expected a list of prompts, {"prompts": [...]} or {"samples": [{"prompt": ...}]}`);
    prompts = prompts.map((p) => (p !== null && typeof p === 'object' && 'prompt' in p ? (p as { prompt: unknown }).prompt : p));
    prompts.forEach((p, i) => {
      if (typeof p !== 'string' || p.trim() === '') throw new UsageError(`--prompt-file: ${path}: prompt ${i} is not a non-empty string`);
    });
  } else {
    prompts = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  }
  if (prompts.length === 0) throw new UsageError(`--prompt-file: ${path} holds no prompts`);
  if (prompts.length > MAX_PROMPTS) throw new UsageError(`--prompt-file: ${path} holds ${prompts.length} prompts; at most ${MAX_PROMPTS} per run (split the file)`);
  return prompts as string[];
}

/** A file-name-safe form of a prompt (upstream names files `<prompt>_<n>.png`); at most 120 chars. */
export function promptFileStem(prompt: string): string {
  const cleaned = prompt
    .normalize('NFC')
    // eslint-disable-next-line no-control-regex
    .replace(/[/\\:*?"<>|\u0000-\u001f\u007f]/g, '_')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\.+/, '_');
  const cut = cleaned.length > 120 ? cleaned.slice(0, 120).trimEnd() : cleaned;
  return cut === '' ? 'image' : cut;
}

/** Hands out `<stem>_<n>.png` names, never the same name twice in one run. */
export class FileNamer {
  private readonly used = new Set<string>();

  name(stem: string, index: number): string {
    let name = `${stem}_${index}.png`;
    for (let k = 2; this.used.has(name); k++) name = `${stem}_${index}-${k}.png`;
    this.used.add(name);
    return name;
  }
}

/** A one-line progress display on a TTY stream (redrawn in place); silent elsewhere. */
export class ProgressLine {
  private last = 0;
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): boolean; columns?: number }) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  update(p: GenerateProgress): void {
    if (!this.enabled) return;
    if (p.stage === 'load') return this.draw(p.event.message, true);
    const now = Date.now();
    const last = p.step + 1 === p.steps;
    if (!last && now - this.last < 100) return;
    this.last = now;
    const batch = p.batches > 1 ? ` batch ${p.batch + 1}/${p.batches}` : '';
    const label = p.stage === 'prior' ? `prior${batch}` : `decoder unet ${p.unet}/${p.unets}${batch}`;
    this.draw(`${label.padEnd(22)} ${bar(p.step + 1, p.steps)} ${p.step + 1}/${p.steps}`, false);
  }

  /** Draws any one-line status (e.g. a queue's overall progress). */
  show(text: string): void {
    this.draw(text, false);
  }

  private draw(text: string, force: boolean): void {
    if (!this.enabled && !force) return;
    const width = Math.max(20, ((this.stream as { columns?: number }).columns ?? 80) - 1);
    this.stream.write(`\r${text.slice(0, width).padEnd(width)}`);
    this.shown = true;
  }

  /** Ends the line (call before printing anything else). */
  done(): void {
    if (this.shown && this.enabled) this.stream.write('\n');
    this.shown = false;
  }
}

export function bar(done: number, total: number, width = 24): string {
  const fill = Math.round((done / Math.max(1, total)) * width);
  return `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}]`;
}
