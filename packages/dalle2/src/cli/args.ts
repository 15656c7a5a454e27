// Command-line parsing for `dalle2 <command>`: one table of options (with dalle2-laion's names as
// aliases), per-command help, and one-line usage errors that name the flag and suggest a fix.
import { closestWord } from '../util/suggest.js';
import { OPTIONS, commandHelp, type OptionSpec } from './help.js';

export { USAGE, commandHelp } from './help.js';

export class UsageError extends Error {
  override name = 'UsageError';

  /** `hint`: a second line pointing at the right help text. */
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export const COMMANDS = ['dream', 'variation', 'inpaint', 'serve', 'worker', 'test', 'info', 'help', 'version'] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface CliOptions {
  command: CommandName;
  /** For `help <command>`: the command asked about. */
  helpFor?: CommandName;
  positionals: string[];
  modelConfig?: string;
  outputPath?: string;
  promptFile?: string;
  samples: number;
  seed: number;
  steps?: number;
  priorSteps?: number;
  decoderSteps?: number[];
  condScale?: number[];
  priorCondScale?: number;
  batchSize?: number;
  priorBatchSize?: number;
  decoderBatchSize?: number;
  images: string[];
  masks: string[];
  prompts: string[];
  texts: string[];
  truncate: boolean;
  /** redis:// URL of a BullMQ queue (dream: send jobs; worker: take them). */
  queue?: string;
  concurrency?: number;
  verbose: boolean;
  quiet: boolean;
  tune: boolean;
  /** serve */
  host?: string;
  port?: number;
  outputDir?: string;
  maxQueue?: number;
  previewEvery?: number;
  /** With --queue: tries per job, and seconds results stay in Redis. */
  attempts?: number;
  resultTtl?: number;
}

type Raw = Map<string, string | boolean | string[]>;

/** `-1`, `.5`, `-2.5e3`, `1,-2`: values that start with a dash but are numbers, not flags. */
const NUMERIC = /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?(,-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?)*$/i;

function closest(word: string, candidates: readonly string[]): string | undefined {
  return closestWord(word, candidates, Math.max(2, Math.floor(word.length / 3)));
}

function helpHint(command: CommandName | undefined): string {
  return command && command !== 'help' && command !== 'version' ? `see "dalle2 ${command} --help"` : 'see "dalle2 help"';
}

function findOption(name: string): OptionSpec | undefined {
  return OPTIONS.find((o) => o.name === name || o.aliases?.includes(name));
}

function findShort(ch: string): OptionSpec | undefined {
  return OPTIONS.find((o) => o.short === ch);
}

/** Splits argv into positionals and raw option values (by canonical name). */
function scan(argv: readonly string[], command: CommandName | undefined): { raw: Raw; positionals: string[] } {
  const raw: Raw = new Map();
  const positionals: string[] = [];
  const set = (spec: OptionSpec, shown: string, value: string | boolean) => {
    if (spec.commands !== 'all' && command && !spec.commands.includes(command)) {
      throw new UsageError(`${shown} does not apply to "${command}"`, helpHint(command));
    }
    if (spec.kind === 'multi') raw.set(spec.name, [...((raw.get(spec.name) as string[] | undefined) ?? []), value as string]);
    else raw.set(spec.name, value);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const spec = findOption(name);
      if (!spec) {
        const names = OPTIONS.flatMap((o) => [o.name, ...(o.aliases ?? [])]);
        const near = closest(name, names);
        throw new UsageError(`unknown option --${name}${near ? ` (did you mean --${near}?)` : ''}`, helpHint(command));
      }
      if (spec.kind === 'flag') {
        if (eq >= 0) throw new UsageError(`--${name} takes no value`, helpHint(command));
        set(spec, `--${name}`, true);
        continue;
      }
      let value: string | undefined = eq >= 0 ? a.slice(eq + 1) : argv[i + 1];
      if (eq < 0) {
        if (value === undefined || (value.startsWith('-') && !NUMERIC.test(value))) throw new UsageError(`--${name} needs a value (${spec.arg})`, helpHint(command));
        i++;
      }
      value = value ?? '';
      set(spec, `--${name}`, value);
      continue;
    }
    if (a.startsWith('-') && a.length > 1 && !NUMERIC.test(a)) {
      for (const ch of a.slice(1)) {
        const spec = findShort(ch);
        if (!spec) throw new UsageError(`unknown option -${ch}`, helpHint(command));
        set(spec, `-${ch}`, true);
      }
      continue;
    }
    positionals.push(a);
  }
  return { raw, positionals };
}

function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${flag}: expected an integer >= ${min}, got "${v}"`);
  return n;
}

function num(flag: string, s: string, min: number): number {
  const n = Number(s);
  if (s.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag}: expected a number, got "${s}"`);
  if (n < min) throw new UsageError(`--${flag}: expected a number >= ${min}, got "${s}"`);
  return n;
}

function list(v: string | undefined, parse: (s: string) => number): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((s) => parse(s.trim()));
}

/** Parses argv (without node and the script). Throws UsageError naming the bad flag or command. */
export function parseCli(argv: readonly string[]): CliOptions {
  const first = argv.find((a) => !a.startsWith('-'));
  const firstIsCommand = first !== undefined && (COMMANDS as readonly string[]).includes(first);
  const { raw, positionals: all } = scan(argv, firstIsCommand ? (first as CommandName) : undefined);
  if (raw.get('version')) return defaults('version', []);
  const [cmd, ...rest] = all;
  if (cmd !== undefined && !(COMMANDS as readonly string[]).includes(cmd)) {
    const near = closest(cmd, COMMANDS);
    throw new UsageError(`unknown command "${cmd}"${near ? ` (did you mean "${near}"?)` : ''}`, `commands: ${COMMANDS.join(', ')}`);
  }
  if (raw.get('help') || cmd === undefined || cmd === 'help') {
    const about = cmd === 'help' ? rest[0] : cmd;
    if (about !== undefined && !(COMMANDS as readonly string[]).includes(about)) throw new UsageError(`no help for "${about}": not a command`, 'see "dalle2 help"');
    return { ...defaults('help', []), helpFor: about as CommandName | undefined };
  }
  const command = cmd as CommandName;
  const s = (k: string) => raw.get(k) as string | undefined;
  const m = (k: string) => (raw.get(k) as string[] | undefined) ?? [];
  const b = (k: string) => raw.get(k) === true;
  return {
    command,
    positionals: rest,
    modelConfig: s('model-config'),
    outputPath: s('output-path'),
    promptFile: s('prompt-file'),
    samples: int('samples', s('samples'), 1) ?? 1,
    seed: int('seed', s('seed'), 0) ?? 0,
    steps: int('steps', s('steps'), 1),
    priorSteps: int('prior-steps', s('prior-steps'), 1),
    decoderSteps: list(s('decoder-steps'), (x) => int('decoder-steps', x, 1)!),
    condScale: list(s('cond-scale'), (x) => num('cond-scale', x, 0)),
    priorCondScale: s('prior-cond-scale') === undefined ? undefined : num('prior-cond-scale', s('prior-cond-scale')!, 0),
    batchSize: int('batch-size', s('batch-size'), 1),
    priorBatchSize: int('prior-batch-size', s('prior-batch-size'), 1),
    decoderBatchSize: int('decoder-batch-size', s('decoder-batch-size'), 1),
    images: m('image'),
    masks: m('mask'),
    prompts: m('prompt'),
    texts: m('text'),
    truncate: b('truncate'),
    queue: s('queue'),
    concurrency: int('concurrency', s('concurrency'), 1),
    verbose: b('verbose'),
    quiet: b('quiet'),
    tune: b('tune'),
    host: s('host'),
    port: int('port', s('port'), 0),
    outputDir: s('output-dir'),
    maxQueue: int('max-queue', s('max-queue'), 0),
    previewEvery: int('preview-every', s('preview-every'), 0),
    attempts: int('attempts', s('attempts'), 1),
    resultTtl: int('result-ttl', s('result-ttl'), 60),
  };
}

function defaults(command: CommandName, positionals: string[]): CliOptions {
  return { command, positionals, samples: 1, seed: 0, images: [], masks: [], prompts: [], texts: [], truncate: false, verbose: false, quiet: false, tune: false };
}

/** The help text of a command, or the overview. */
export function helpText(command?: CommandName): string {
  return commandHelp(command);
}
