// `pnpm fidelity --fixtures <dir> [--only clip|xclip|coca|prior|decoder|pipeline]`: runs our implementation on any
// fixture directory with the upstream layout + manifest and prints one line per check.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { Runtime } from '@dalle2/tensor';
import { FixtureSet, formatResult } from './check.js';
import { SUITES, SUITE_NAMES, type SuiteName } from './suites.js';
import { callerCwd } from '../util/callerCwd.js';

const USAGE = `usage: pnpm fidelity --fixtures <dir> [--only ${SUITE_NAMES.join('|')}]`;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { fixtures: { type: 'string' }, only: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help || !values.fixtures) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const only = values.only as SuiteName | undefined;
  if (only && !SUITE_NAMES.includes(only)) {
    console.error(`fidelity: unknown suite "${only}"\n${USAGE}`);
    return 2;
  }
  // INIT_CWD: pnpm runs scripts from the repo root; resolve relative paths against where the user was.
  const dir = resolve(callerCwd('fidelity'), values.fixtures);
  const fx = await FixtureSet.load(dir);
  const rt = await Runtime.create();
  console.log(`fixtures ${dir}\nadapter  ${rt.describe()}`);
  let passed = 0;
  let failed = 0;
  try {
    for (const name of only ? [only] : SUITE_NAMES) {
      for (const r of await SUITES[name]({ rt, fx })) {
        console.log(formatResult(r));
        if (r.pass) passed++;
        else failed++;
      }
    }
  } finally {
    await fx.close();
    await rt.destroy();
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`fidelity: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  },
);
