export { SafetensorsError } from './errors.js';
export {
  DTYPE_SIZES,
  SAFETENSORS_DTYPES,
  bytesToTypedArray,
  isSafetensorsDType,
  typedArrayToFloat32,
  type SafetensorsDType,
  type SafetensorsTypedArray,
} from './dtypes.js';
export { bf16BitsToF32, f16BitsToF32, f32BitsToF16Scalar, f32ToBf16Bits, f32ToF16Bits } from './halfFloat.js';
export {
  HEADER_PREFIX_BYTES,
  MAX_HEADER_BYTES,
  METADATA_KEY,
  parseSafetensorsHeader,
  type SafetensorsHeader,
  type TensorInfo,
} from './header.js';
export { SafetensorsFile } from './reader.js';
export { serializeSafetensors, writeSafetensors, type TensorToWrite, type TensorsToWrite } from './writer.js';
