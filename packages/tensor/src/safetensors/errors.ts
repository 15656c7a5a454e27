/**
 * Every safetensors failure (malformed file, missing tensor, bad writer input) is a
 * SafetensorsError whose message starts with the file and, where relevant, the tensor.
 */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  /** File path (or `<memory>` for in-memory buffers). */
  readonly file: string;
  /** Tensor the error concerns, if any. */
  readonly tensor: string | undefined;
  /** Message without the file/tensor prefix. */
  readonly detail: string;

  constructor(file: string, detail: string, options: { tensor?: string; cause?: unknown } = {}) {
    const where = options.tensor === undefined ? file : `${file}: tensor ${JSON.stringify(options.tensor)}`;
    super(`${where}: ${detail}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = file;
    this.tensor = options.tensor;
    this.detail = detail;
  }
}

/** Short description of a JSON value's type for error messages. */
export function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
