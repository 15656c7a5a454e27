// Command-line parsing for `dalle2 <command>`: node:util parseArgs plus value checks that name the flag.
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export const COMMANDS = ['dream', 'variation', 'inpaint', 'test', 'help'] as const;
export type CommandName = (typeof COMMANDS)[number];

export const USAGE = `usage: dalle2 <command> [options]

commands:
  dream "<prompt>" ["<prompt>" ...]   text to image (prior + decoder)
  variation <image|dir> [...]        variations of images (CLIP image embedding + decoder)
  inpaint --image a.png --mask m.png --prompt "..." [--image ... --mask ... --prompt ...]
                                     regenerate the masked-out parts (mask: red >= 128 = keep)
  test                               load the model and report what was loaded
  help                               this text

options (all commands):
  --model-config <path>   dalle2-laion ModelLoadConfig JSON (default: the bundled demo model)
  --output-path <dir>     where PNGs go (default ./output/<basic|variations|inpaint>/)
  --samples <n>           images per prompt / image (default 1)
  --seed <n>              random seed (default 0): the same seed gives the same images
  --steps <n>             sampling steps for every stage (prior and each decoder unet)
  --prior-steps <n>       prior sampling steps only
  --decoder-steps <n[,n]> decoder sampling steps, one for all unets or one per unet
  --cond-scale <x[,x]>    decoder guidance scale, one for all unets or one per unet
  --batch-size <n>        most samples run at once
  --verbose, -v           print what each stage does
  --quiet, -q             no progress bars or summary lines
  --tune                  afterwards, measure kernel choices for the shapes this run used and save them
                          for this GPU (later runs pick them up; see bench/README.md, "tune")
dream:
  --prompt-file <f>       prompts from a .txt (one per line) or .json (list of strings, or
                          {"prompts": [...]}, or {"samples": [{"prompt": ...}]}) file
variation:
  --text <prompt>         prompt per image, for text-conditioned decoders (repeatable)`;

export interface CliOptions {
  command: CommandName;
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
  batchSize?: number;
  images: string[];
  masks: string[];
  prompts: string[];
  texts: string[];
  verbose: boolean;
  quiet: boolean;
  tune: boolean;
}

function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${flag}: expected an integer >= ${min}, got "${v}"`);
  return n;
}

function list(flag: string, v: string | undefined, parse: (s: string) => number): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((s) => parse(s.trim()));
}

/** Parses argv (without node and the script). Throws UsageError naming the bad flag or command. */
export function parseCli(argv: readonly string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        'model-config': { type: 'string' },
        'output-path': { type: 'string' },
        'prompt-file': { type: 'string' },
        samples: { type: 'string' },
        seed: { type: 'string' },
        steps: { type: 'string' },
        'prior-steps': { type: 'string' },
        'decoder-steps': { type: 'string' },
        'cond-scale': { type: 'string' },
        'batch-size': { type: 'string' },
        image: { type: 'string', multiple: true },
        mask: { type: 'string', multiple: true },
        prompt: { type: 'string', multiple: true },
        text: { type: 'string', multiple: true },
        verbose: { type: 'boolean', short: 'v' },
        quiet: { type: 'boolean', short: 'q' },
        tune: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [first, ...rest] = positionals;
  const command = values.help ? 'help' : ((first ?? 'help') as CommandName);
  if (!(COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown command "${first}" (commands: ${COMMANDS.join(', ')})`);
  const number = (flag: string) => (s: string) => {
    const n = Number(s);
    if (s === '' || !Number.isFinite(n)) throw new UsageError(`--${flag}: expected a number, got "${s}"`);
    return n;
  };
  const stepList = (s: string) => int('decoder-steps', s, 1)!;
  return {
    command,
    positionals: values.help ? positionals.slice(1) : rest,
    modelConfig: values['model-config'],
    outputPath: values['output-path'],
    promptFile: values['prompt-file'],
    samples: int('samples', values.samples, 1) ?? 1,
    seed: int('seed', values.seed, 0) ?? 0,
    steps: int('steps', values.steps, 1),
    priorSteps: int('prior-steps', values['prior-steps'], 1),
    decoderSteps: list('decoder-steps', values['decoder-steps'], stepList),
    condScale: list('cond-scale', values['cond-scale'], number('cond-scale')),
    batchSize: int('batch-size', values['batch-size'], 1),
    images: values.image ?? [],
    masks: values.mask ?? [],
    prompts: values.prompt ?? [],
    texts: values.text ?? [],
    verbose: values.verbose ?? false,
    quiet: values.quiet ?? false,
    tune: values.tune ?? false,
  };
}
