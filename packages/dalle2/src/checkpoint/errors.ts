/**
 * Every checkpoint failure (malformed zip, refused pickle global, missing storage, bad tensor)
 * is a PthError whose message starts with the file and, where known, the key path of the
 * object concerned (e.g. `model.unets.0.init_conv.weight`).
 */
export class PthError extends Error {
  override readonly name = 'PthError';
  /** Checkpoint file path. */
  readonly file: string;
  /** Dotted key path inside the unpickled object, if known. */
  readonly keyPath: string | undefined;
  /** Message without the file/key prefix. */
  readonly detail: string;

  constructor(file: string, detail: string, options: { keyPath?: string; cause?: unknown } = {}) {
    const where = options.keyPath === undefined ? file : `${file}: ${JSON.stringify(options.keyPath)}`;
    super(`${where}: ${detail}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = file;
    this.keyPath = options.keyPath;
    this.detail = detail;
  }
}
