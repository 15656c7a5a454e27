// Safe reader for PyTorch `torch.save` checkpoints (zip and legacy formats): a restricted
// unpickler that never executes anything, lazy tensors read by offset from the file.
export { PthError } from './errors.js';
export { DEFAULT_PTH_LIMITS, PthCheckpoint, readPth, type PthLimits, type ReadPthOptions } from './checkpoint.js';
export { PthTensor } from './tensor.js';
export {
  PTH_DTYPE_SIZES,
  PthStorage,
  PthTorchDType,
  PthVersion,
  type PthDType,
  type PthDict,
  type PthKey,
  type PthValue,
} from './values.js';
export { checkpointLayout, stateDict, toPlain, type PlainValue, type PthLayout, type ToPlainOptions } from './stateDict.js';
