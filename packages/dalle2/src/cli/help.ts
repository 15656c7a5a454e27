// The CLI's options (one table: parsing and help both read it) and its help texts.
export type Command = 'dream' | 'variation' | 'inpaint' | 'serve' | 'worker' | 'test' | 'info' | 'help' | 'version';

export interface OptionSpec {
  name: string;
  /** Other accepted names (dalle2-laion's keyword names among them). */
  aliases?: string[];
  short?: string;
  kind: 'value' | 'multi' | 'flag';
  /** What the value looks like, for help and errors. */
  arg?: string;
  commands: readonly Command[] | 'all';
  help: string;
}

const SAMPLING: Command[] = ['dream', 'variation', 'inpaint'];
const MODEL: Command[] = ['dream', 'variation', 'inpaint', 'serve', 'worker', 'test'];

export const OPTIONS: readonly OptionSpec[] = [
  { name: 'model-config', kind: 'value', arg: '<path>', commands: MODEL, help: 'dalle2-laion ModelLoadConfig JSON (default: the bundled demo model)' },
  { name: 'output-path', kind: 'value', arg: '<dir>', commands: SAMPLING, help: 'where PNGs go (default ./output/<basic|variations|inpaint>/)' },
  { name: 'prompt-file', kind: 'value', arg: '<file>', commands: ['dream'], help: 'prompts from .txt (one per line) or .json (list, {"prompts": [...]} or {"samples": [{"prompt": ...}]})' },
  { name: 'prompt', kind: 'multi', arg: '<text>', commands: ['dream', 'inpaint'], help: 'a prompt (repeatable; inpaint: one for all images or one per image)' },
  { name: 'image', kind: 'multi', arg: '<file>', commands: ['variation', 'inpaint'], help: 'an input image (repeatable)' },
  { name: 'mask', kind: 'multi', arg: '<file>', commands: ['inpaint'], help: 'mask per --image: red >= 128 keeps the pixel, the rest is regenerated' },
  { name: 'text', kind: 'multi', arg: '<text>', commands: ['variation'], help: 'prompt per image, for text-conditioned decoders (repeatable)' },
  {
    name: 'samples', aliases: ['sample-count', 'prior-sample-count', 'num-samples'], kind: 'value', arg: '<n>', commands: SAMPLING,
    help: 'images per prompt / input image (default 1)',
  },
  { name: 'seed', kind: 'value', arg: '<n>', commands: SAMPLING, help: 'random seed (default 0); image k of a prompt uses seed + k' },
  { name: 'steps', kind: 'value', arg: '<n>', commands: SAMPLING, help: 'sampling steps of every stage (prior and each decoder unet)' },
  { name: 'prior-steps', aliases: ['prior-timesteps'], kind: 'value', arg: '<n>', commands: ['dream', 'inpaint'], help: 'prior sampling steps' },
  { name: 'decoder-steps', aliases: ['decoder-timesteps'], kind: 'value', arg: '<n[,n]>', commands: SAMPLING, help: 'decoder steps: one for all unets or one per unet' },
  { name: 'cond-scale', aliases: ['decoder-cond-scale'], kind: 'value', arg: '<x[,x]>', commands: SAMPLING, help: 'decoder guidance scale (>= 0): one for all unets or one per unet' },
  { name: 'prior-cond-scale', kind: 'value', arg: '<x>', commands: ['dream', 'inpaint'], help: 'prior guidance scale (>= 0; the 1.1.0 prior ignores it, as upstream)' },
  { name: 'batch-size', kind: 'value', arg: '<n>', commands: SAMPLING, help: 'most samples run at once, both stages' },
  { name: 'prior-batch-size', kind: 'value', arg: '<n>', commands: ['dream', 'inpaint'], help: 'most prompts per prior batch (default 100)' },
  { name: 'decoder-batch-size', kind: 'value', arg: '<n>', commands: SAMPLING, help: 'most images per decoder batch (default 10)' },
  { name: 'truncate', kind: 'flag', commands: ['dream', 'variation', 'inpaint'], help: 'cut prompts over 256 tokens to their first 256 (default: refuse them)' },
  { name: 'tune', kind: 'flag', commands: SAMPLING, help: 'afterwards, measure kernel choices for this run\'s shapes and save them for this GPU' },
  { name: 'queue', kind: 'value', arg: '<redis://host:port[/db]>', commands: ['dream', 'serve', 'worker'], help: 'BullMQ queue on Redis: dream and serve send jobs to the workers (dream: resumable); worker takes jobs from it' },
  { name: 'concurrency', kind: 'value', arg: '<n>', commands: ['worker'], help: 'jobs this worker runs at once (default 1)' },
  { name: 'attempts', kind: 'value', arg: '<n>', commands: ['dream', 'serve'], help: 'with --queue: tries per job when workers die or fail (default 3)' },
  { name: 'result-ttl', kind: 'value', arg: '<seconds>', commands: ['dream', 'serve'], help: 'with --queue: how long finished jobs and their images stay in Redis (default 86400)' },
  { name: 'host', kind: 'value', arg: '<host>', commands: ['serve'], help: 'address to listen on (default 127.0.0.1; another address exposes the UI to the network, without authentication)' },
  { name: 'port', kind: 'value', arg: '<n>', commands: ['serve'], help: 'port to listen on (default 7860; 0 picks a free one)' },
  { name: 'output-dir', kind: 'value', arg: '<dir>', commands: ['serve'], help: 'where results and job history live (default ./output/web/)' },
  { name: 'max-queue', kind: 'value', arg: '<n>', commands: ['serve'], help: 'most jobs waiting behind the running one; more get HTTP 429 (default 8)' },
  { name: 'preview-every', kind: 'value', arg: '<n>', commands: ['serve', 'worker'], help: 'decoder preview every n steps (default: about 8 per unet; 0: none)' },
  { name: 'verbose', short: 'v', kind: 'flag', commands: 'all', help: 'print what each stage does' },
  { name: 'quiet', short: 'q', kind: 'flag', commands: 'all', help: 'no progress bar or summary lines' },
  { name: 'help', short: 'h', kind: 'flag', commands: 'all', help: 'help for the command' },
  { name: 'version', short: 'V', kind: 'flag', commands: 'all', help: 'print the version' },
];

const SYNOPSIS: Record<Command, { usage: string; about: string; notes?: string }> = {
  dream: {
    usage: 'dalle2 dream "<prompt>" ["<prompt>" ...] [options]',
    about: 'text to image (prior + decoder)',
    notes: 'Each image is written as soon as it is decoded; Ctrl-C stops at the next step and keeps them.',
  },
  variation: { usage: 'dalle2 variation <image|dir> [...] [options]', about: 'variations of images (CLIP image embedding + decoder)' },
  inpaint: {
    usage: 'dalle2 inpaint --image a.png --mask m.png --prompt "..." [--image ... --mask ... --prompt ...]',
    about: 'regenerate the masked-out parts of images',
    notes: 'Image and mask are center-cropped to squares; mask pixels with red >= 128 keep the original.',
  },
  serve: {
    usage: 'dalle2 serve [--model-config F] [--port P] [--host H] [--output-dir D]',
    about: 'web UI and HTTP API (dream, variation, inpaint) on the loaded model',
    notes: 'Loads the model once; open the printed URL. Ctrl-C stops taking jobs, cancels the running one and exits.',
  },
  test: { usage: 'dalle2 test [--model-config F]', about: 'load the model and report what was loaded' },
  worker: {
    usage: 'dalle2 worker --queue redis://host:port[/db] [--model-config F] [--concurrency 1]',
    about: 'run jobs from a Redis queue on this machine (one per GPU); Ctrl-C hands running jobs back',
    notes: 'Every worker and every submitter must use the same model config (checked by digest).',
  },
  info: { usage: 'dalle2 info <png> [...]', about: 'print the parameters stored in a generated PNG and the command that remakes it' },
  help: { usage: 'dalle2 help [command]', about: 'this text, or a command\'s options' },
  version: { usage: 'dalle2 --version', about: 'print the version' },
};

export const VERSION = '0.1.0';

function optionLines(command: Command | undefined): string[] {
  return OPTIONS.filter((o) => command === undefined || o.commands === 'all' || o.commands.includes(command)).map((o) => {
    const names = [o.short ? `-${o.short}, ` : '', `--${o.name}`, o.arg ? ` ${o.arg}` : ''].join('');
    const aliases = o.aliases?.length ? ` (also ${o.aliases.map((a) => `--${a}`).join(', ')})` : '';
    return `  ${names.padEnd(28)} ${o.help}${aliases}`;
  });
}

/** Overview (no command) or one command's usage and options. */
export function commandHelp(command?: Command): string {
  if (!command) {
    const lines = (Object.keys(SYNOPSIS) as Command[]).map((c) => `  ${c.padEnd(10)} ${SYNOPSIS[c].about}`);
    return [
      'usage: dalle2 <command> [options]',
      '',
      'commands:',
      ...lines,
      '',
      '"dalle2 <command> --help" lists a command\'s options. Exit codes: 0 done, 1 failed, 2 usage error, 130 interrupted.',
    ].join('\n');
  }
  const s = SYNOPSIS[command];
  return [`usage: ${s.usage}`, '', s.about, ...(s.notes ? [s.notes] : []), '', 'options:', ...optionLines(command)].join('\n');
}

export const USAGE = commandHelp();
