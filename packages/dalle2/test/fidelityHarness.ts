// Shared vitest wrapper for the fidelity suites: the same checks `pnpm fidelity --only <suite>` prints,
// run on ../shared/fixtures, failing with every failing line.
import { describe, it, expect, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Runtime } from '@dalle2/tensor';
import { FixtureSet, formatResult, SUITES, type CheckResult, type SuiteName } from '../src/fidelity/index.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));

/** Registers one test running `suite`; `minChecks` guards against a suite that silently checks nothing. */
export function fidelitySuiteTest(suite: SuiteName, title: string, minChecks: number, extra?: (results: CheckResult[]) => void): void {
  describe(`fidelity: ${suite}`, async () => {
    const rt = await Runtime.create();
    const fx = await FixtureSet.load(FIXTURES);
    afterAll(async () => {
      await fx.close();
      await rt.destroy();
    });

    it(title, async () => {
      const results = await SUITES[suite]({ rt, fx });
      const failed = results.filter((r) => !r.pass).map(formatResult);
      expect(failed, failed.join('\n')).toEqual([]);
      expect(results.length).toBeGreaterThanOrEqual(minChecks);
      extra?.(results);
    }, 900_000);
  });
}
