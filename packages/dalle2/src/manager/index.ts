// DalleModelManager and the loaders behind it (CLIP, prior, decoder unets from .pth or safetensors).
export { DalleModelManager, type LoadProgress, type ManagerOptions } from './manager.js';
export { openCheckpoint, CheckpointFormatError, type CheckpointFile, type CheckpointFormat } from './checkpointFile.js';
export { readJsonFile } from './priorLoader.js';
export { ClipLoadError, loadClip, type LoadedClip, type ClipSourceKind } from './clipLoader.js';
export { loadPrior, ModelLoadError, DALLE2_VERSION, type LoadedPrior } from './priorLoader.js';
export { loadDecoder, type LoadedDecoder, type LoadedUnet } from './decoderLoader.js';

export { formatReport, formatCount, formatMiB, type ModelKind, type ModelReport } from './report.js';
