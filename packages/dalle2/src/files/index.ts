// File fetching for ModelLoadConfig FileSpecs: local checks, cached downloads with resume, checksums.
export { resolveFile, defaultCacheDir, cacheFileName, type ResolveOptions } from './resolve.js';
export { FileFetchError, type FileFetchErrorKind } from './errors.js';
export { huggingFaceRawUrl, parseLfsPointer, DEFAULT_HF_HOSTS, type LfsPointer } from './checksum.js';
export {
  formatBytes,
  formatDuration,
  formatProgress,
  ttyProgressRenderer,
  type DownloadProgress,
  type ProgressListener,
} from './progress.js';
