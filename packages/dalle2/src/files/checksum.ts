// Checksum texts as dalle2-laion uses them: an opaque text stored next to the cached file and compared
// with the remote one to notice updates. For Hugging Face the text is the git-LFS pointer, which also
// gives us the sha256 and size to verify the downloaded bytes against.
import { readFile } from 'node:fs/promises';
import type { FileSpec } from '../config/types.js';

export const DEFAULT_HF_HOSTS: readonly string[] = ['huggingface.co', 'hf.co'];

export interface LfsPointer {
  sha256: string;
  size: number;
}

/**
 * `https://huggingface.co/org/repo/resolve/<rev>/path` -> `.../raw/<rev>/path` (the LFS pointer text).
 * Upstream only maps `resolve/main/`; any revision works the same way on the Hub.
 */
export function huggingFaceRawUrl(url: string, hosts: readonly string[] = DEFAULT_HF_HOSTS): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (!hosts.includes(parsed.host) || !parsed.pathname.includes('/resolve/')) return undefined;
  parsed.pathname = parsed.pathname.replace('/resolve/', '/raw/');
  return parsed.toString();
}

/** Where the checksum text for a url spec comes from: explicit, else the Hugging Face raw URL, else none. */
export function checksumLocation(spec: FileSpec, hosts?: readonly string[]): string | undefined {
  return spec.checksum_file_path ?? huggingFaceRawUrl(spec.path, hosts);
}

/** Parses a git-LFS pointer (`oid sha256:<64 hex>` and `size <n>` lines); undefined for any other text. */
export function parseLfsPointer(text: string): LfsPointer | undefined {
  const oid = /^oid sha256:([0-9a-f]{64})\s*$/m.exec(text);
  const size = /^size (\d+)\s*$/m.exec(text);
  if (!oid || !size || !text.startsWith('version ')) return undefined;
  return { sha256: oid[1], size: Number(size[1]) };
}

export function isHttpLocation(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

/** Reads a local checksum file (upstream's urlretrieve accepts plain paths too). */
export async function readLocalChecksum(path: string): Promise<string> {
  return readFile(path, 'utf8');
}
