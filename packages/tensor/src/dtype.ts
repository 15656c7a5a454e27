// Element types the engine stores on the GPU. f16 needs the adapter's `shader-f16` feature.
export type DType = 'f32' | 'f16' | 'i32';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'i32'];

export function bytesPerElement(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}

/** Host-side array for a dtype: f16 travels as raw IEEE half bits. */
export type HostArray<D extends DType = DType> = D extends 'f32'
  ? Float32Array
  : D extends 'f16'
    ? Uint16Array
    : Int32Array;

export function hostArrayFor(dtype: DType, buffer: ArrayBuffer, length: number): Float32Array | Uint16Array | Int32Array {
  switch (dtype) {
    case 'f32':
      return new Float32Array(buffer, 0, length);
    case 'f16':
      return new Uint16Array(buffer, 0, length);
    case 'i32':
      return new Int32Array(buffer, 0, length);
  }
}
