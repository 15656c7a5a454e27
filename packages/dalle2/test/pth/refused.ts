// Loads crafted checkpoint bytes and returns the PthError they must end in (naming the file).
import { expect } from 'vitest';
import { PthError, readPth, type ReadPthOptions } from '../../src/checkpoint/index.js';
import type { tempDir } from './torch.js';

export async function refusedPth(tmp: Awaited<ReturnType<typeof tempDir>>, name: string, bytes: Uint8Array, opts?: ReadPthOptions): Promise<PthError> {
  const path = await tmp.write(name, bytes);
  const err: unknown = await readPth(path, opts).then(
    async (ck) => {
      await ck.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PthError);
  expect((err as PthError).file).toBe(path);
  return err as PthError;
}
