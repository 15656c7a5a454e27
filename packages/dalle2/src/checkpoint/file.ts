import { open as openFile, type FileHandle } from 'node:fs/promises';
import { PthError } from './errors.js';

/** Node caps a single read at 2 GiB - 1; larger ranges are read in chunks. */
const MAX_READ_CHUNK = 1 << 30;

/**
 * A file opened for positional range reads, so multi-GB checkpoints are never held in one
 * buffer. Reads may run concurrently; each returns a fresh buffer at offset 0.
 */
export class RandomAccessFile {
  readonly path: string;
  /** Size when opened; every read is checked against it. */
  readonly size: number;
  #handle: FileHandle | null;

  private constructor(path: string, handle: FileHandle, size: number) {
    this.path = path;
    this.#handle = handle;
    this.size = size;
  }

  static async open(path: string): Promise<RandomAccessFile> {
    let handle: FileHandle;
    try {
      handle = await openFile(path, 'r');
    } catch (cause) {
      throw new PthError(path, `cannot open: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    try {
      const { size } = await handle.stat();
      return new RandomAccessFile(path, handle, size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Reads exactly `length` bytes at `offset`; `what` names the thing read in errors. */
  async read(offset: number, length: number, what: string): Promise<Uint8Array> {
    const handle = this.#handle;
    if (handle === null) throw new PthError(this.path, `file is closed (reading ${what})`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new PthError(this.path, `${what}: bytes [${offset}, ${offset + length}) lie outside the ${this.size}-byte file (truncated?)`);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const chunk = Math.min(length - done, MAX_READ_CHUNK);
      const { bytesRead } = await handle.read(out, done, chunk, offset + done);
      if (bytesRead === 0) throw new PthError(this.path, `${what}: unexpected end of file at byte ${offset + done} (file changed?)`);
      done += bytesRead;
    }
    return out;
  }

  /** Closes the file; later reads throw. Safe to call twice. */
  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    if (handle !== null) await handle.close();
  }
}
