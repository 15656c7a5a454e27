import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { open as openFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DTYPE_SIZES,
  SafetensorsError,
  SafetensorsFile,
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  parseSafetensorsHeader,
  serializeSafetensors,
  writeSafetensors,
  type SafetensorsDType,
  type TensorsToWrite,
} from '../src/safetensors/index.js';
import { numElements } from '../src/safetensors/dtypes.js';
import { asBytes, craft, entry, sample } from './safetensors/craft.js';
import { f16Value, roundToF16 } from './safetensors/halfRef.js';
import {
  MANIFEST_DTYPES,
  computeStats,
  findShared,
  listSafetensors,
  loadManifest,
  statMismatches,
} from './safetensors/fixtures.js';

const shared = findShared();
const fixturesDir = join(shared, 'fixtures');
const manifest = loadManifest(fixturesDir);
const manifestFiles = Object.entries(manifest.files).filter(([, f]) => f.kind === 'safetensors');

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'safetensors-test-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// (1) Real files: fixtures against the manifest, demo model
// ---------------------------------------------------------------------------

describe('fixtures match manifest.json', () => {
  it('lists every fixture file on disk', () => {
    const onDisk = listSafetensors(fixturesDir).map((p) => p.slice(fixturesDir.length + 1).split('\\').join('/'));
    expect(manifestFiles.map(([rel]) => rel).sort()).toEqual(onDisk);
    expect(manifestFiles.length).toBeGreaterThan(0);
  });

  it.each(manifestFiles)('%s', async (rel, spec) => {
    const file = await SafetensorsFile.open(join(fixturesDir, rel));
    try {
      const tensors = spec.tensors ?? {};
      expect(file.keys().sort()).toEqual(Object.keys(tensors).sort());
      const problems: string[] = [];
      for (const [name, want] of Object.entries(tensors)) {
        const info = file.info(name);
        expect(info.dtype, name).toBe(MANIFEST_DTYPES[want.dtype]);
        expect(info.shape, name).toEqual(want.shape);
        const raw = await file.read(name);
        const f32 = await file.readFloat32(name);
        expect(raw.length, name).toBe(numElements(want.shape));
        expect(f32.length, name).toBe(raw.length);
        const bad = statMismatches(computeStats(info.dtype, raw, f32), want.stats);
        if (bad.length > 0) problems.push(`${name}: ${bad.join('; ')}`);
      }
      expect(problems).toEqual([]);
    } finally {
      await file.close();
    }
  });
});

describe('demo model', () => {
  const files = listSafetensors(join(shared, 'demo-model'));

  it('has safetensors files', () => expect(files.length).toBeGreaterThanOrEqual(3));

  it.each(files.map((p) => [p.slice(shared.length + 1), p]))('%s opens and reads', async (_rel, path) => {
    const file = await SafetensorsFile.open(path);
    try {
      expect(file.keys().length).toBeGreaterThan(0);
      for (const name of file.keys()) {
        const info = file.info(name);
        const f32 = await file.readFloat32(name);
        expect(f32.length).toBe(numElements(info.shape));
        if (info.dtype === 'F32' || info.dtype === 'F16') expect(f32.every(Number.isFinite), name).toBe(true);
      }
    } finally {
      await file.close();
    }
  });
});

describe('lazy reads', () => {
  it('open reads only the header; a tensor read reads only that tensor', async () => {
    const path = join(fixturesDir, manifestFiles[0][0]);
    const whole = new Uint8Array(await readFile(path)); // before spying, so it is not counted
    const header = parseSafetensorsHeader(whole, whole.byteLength, path);
    const probe = await openFile(path, 'r');
    const proto = Object.getPrototypeOf(probe) as { read(...args: unknown[]): Promise<unknown> };
    await probe.close();
    const realRead = proto.read;
    let requested = 0;
    const spy = vi.spyOn(proto, 'read').mockImplementation(function (this: unknown, ...args: unknown[]) {
      requested += args[2] as number; // read(buffer, offset, length, position)
      return realRead.apply(this, args);
    });
    try {
      const file = await SafetensorsFile.open(path);
      expect(requested).toBe(8 + header.headerLength);
      const name = file.keys()[file.keys().length - 1];
      await file.readBytes(name);
      expect(requested).toBe(8 + header.headerLength + file.info(name).byteLength);
      await file.close();
    } finally {
      spy.mockRestore();
    }
  });
});

// ---------------------------------------------------------------------------
// (2) Writer -> reader round trip
// ---------------------------------------------------------------------------

const DTYPES = Object.keys(DTYPE_SIZES) as SafetensorsDType[];
const SHAPES: number[][] = [[2, 3], [], [0], [3, 0, 2], [5]];

function roundTripTensors(): TensorsToWrite {
  const tensors: TensorsToWrite = {};
  for (const dtype of DTYPES) {
    SHAPES.forEach((shape, i) => {
      tensors[`${dtype.toLowerCase()}.s${i}`] = { dtype, shape, data: sample(dtype, numElements(shape)) };
    });
  }
  // Names JSON.stringify would reorder or escape.
  tensors['10'] = { dtype: 'U8', shape: [1], data: new Uint8Array([10]) };
  tensors['2'] = { dtype: 'I8', shape: [1], data: new Int8Array([-2]) };
  tensors['ünï "quoted" \\ name'] = { dtype: 'F32', shape: [1], data: new Float32Array([7]) };
  return tensors;
}

describe('writer -> reader round trip', () => {
  const metadata = { format: 'pt', note: 'ünïcode "quotes"', __proto__: 'own key', empty: '' };

  it('preserves every dtype, shape (incl. scalars and empty tensors), byte and metadata', async () => {
    const tensors = roundTripTensors();
    const path = join(tmp, 'roundtrip.safetensors');
    await writeSafetensors(path, tensors, metadata);
    const file = await SafetensorsFile.open(path);
    try {
      expect(file.metadata).toEqual(metadata);
      expect(Object.getPrototypeOf(file.metadata)).toBe(Object.prototype);
      expect(file.keys().sort()).toEqual(Object.keys(tensors).sort());
      for (const [name, t] of Object.entries(tensors)) {
        const info = file.info(name);
        expect([info.dtype, info.shape], name).toEqual([t.dtype, t.shape]);
        expect(await file.readBytes(name), name).toEqual(asBytes(t.data));
        const typed = await file.read(name);
        expect(typed.constructor, name).toBe(t.dtype === 'BOOL' ? Uint8Array : t.data.constructor);
        expect(typed.byteOffset, name).toBe(0);
      }
    } finally {
      await file.close();
    }
  });

  it('writes the same bytes as serializeSafetensors, 8-byte padded and aligned', async () => {
    const tensors = roundTripTensors();
    const bytes = serializeSafetensors(tensors, metadata);
    const path = join(tmp, 'same.safetensors');
    await writeSafetensors(path, tensors, metadata);
    expect(new Uint8Array(await readFile(path))).toEqual(bytes);
    const header = parseSafetensorsHeader(bytes, bytes.byteLength, '<memory>');
    expect(header.headerLength % 8).toBe(0);
    expect(header.dataOffset + header.dataLength).toBe(bytes.byteLength);
    const text = new TextDecoder().decode(bytes.subarray(8, header.dataOffset));
    expect(text).toMatch(/^\{"__metadata__":\{.*\}\}\s*$/);
    for (const t of header.tensors) expect(t.byteOffset % DTYPE_SIZES[t.dtype], t.name).toBe(0);
    // Layout: larger dtypes first, names sorted within a dtype (the reference crate's order).
    const nonEmpty = header.tensors.filter((t) => t.byteLength > 0);
    const rank = (d: SafetensorsDType): number => ['I64', 'F64', 'F32', 'I32', 'BF16', 'F16', 'I16', 'I8', 'U8', 'BOOL'].indexOf(d);
    const order = [...nonEmpty].sort((a, b) => rank(a.dtype) - rank(b.dtype) || (a.name < b.name ? -1 : 1));
    expect(nonEmpty.map((t) => t.name)).toEqual(order.map((t) => t.name));
  });

  it('writes an empty file and one without metadata', async () => {
    const empty = serializeSafetensors({});
    expect(new TextDecoder().decode(empty.subarray(8))).toBe('{}      ');
    const path = join(tmp, 'empty.safetensors');
    await writeSafetensors(path, {});
    const file = await SafetensorsFile.open(path);
    expect([file.keys(), file.metadata]).toEqual([[], {}]);
    await file.close();
  });

  it('converts every dtype to float32', async () => {
    const f16 = f32ToF16Bits(new Float32Array([1, -2.5, 65504]));
    const bf16 = f32ToBf16Bits(new Float32Array([1, -2.5, 1 + 3 * 2 ** -8])); // tie rounds to even 1 + 2^-6
    const tensors: TensorsToWrite = {
      f16: { dtype: 'F16', shape: [3], data: f16 },
      bf16: { dtype: 'BF16', shape: [3], data: bf16 },
      f64: { dtype: 'F64', shape: [3], data: new Float64Array([0.1, -1e300, 2]) },
      i64: { dtype: 'I64', shape: [3], data: new BigInt64Array([-5n, 2n ** 40n, 0n]) },
      i16: { dtype: 'I16', shape: [3], data: new Int16Array([-32768, 7, 32767]) },
      b: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    };
    const path = join(tmp, 'convert.safetensors');
    await writeSafetensors(path, tensors);
    const file = await SafetensorsFile.open(path);
    const got = async (n: string): Promise<number[]> => Array.from(await file.readFloat32(n));
    expect(await got('f16')).toEqual([1, -2.5, 65504]);
    expect(await got('bf16')).toEqual([1, -2.5, 1 + 2 ** -6]);
    expect(await got('f64')).toEqual([Math.fround(0.1), -Infinity, 2]);
    expect(await got('i64')).toEqual([-5, 2 ** 40, 0]);
    expect(await got('i16')).toEqual([-32768, 7, 32767]);
    expect(await got('b')).toEqual([1, 0, 1]);
    await file.close();
    await expect(file.readBytes('b')).rejects.toThrow(/convert\.safetensors: tensor "b": file is closed/);
  });

  it('rejects bad writer input, naming the tensor', async () => {
    const bad = (tensors: TensorsToWrite, meta?: Record<string, string>): (() => Uint8Array) =>
      () => serializeSafetensors(tensors, meta);
    expect(bad({ w: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } })).toThrow(
      /<memory>: tensor "w": data has 12 bytes, expected 4 elements x 4 bytes \(F32, shape \[2,2\]\)/,
    );
    expect(bad({ w: { dtype: 'F8' as SafetensorsDType, shape: [1], data: new Uint8Array(1) } })).toThrow(/tensor "w": unknown dtype "F8"/);
    expect(bad({ w: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } })).toThrow(/tensor "w": shape \[-1\] has invalid dimension/);
    expect(bad({ __metadata__: { dtype: 'U8', shape: [], data: new Uint8Array(1) } })).toThrow(/"__metadata__" is reserved/);
    expect(bad({}, { k: 1 } as unknown as Record<string, string>)).toThrow(/__metadata__ value for key "k" must be a string, got number/);
    const path = join(tmp, 'no-such-dir', 'x.safetensors');
    await expect(writeSafetensors(path, {})).rejects.toThrow(/x\.safetensors: write failed: ENOENT/);
  });
});

// ---------------------------------------------------------------------------
// (3) Malformed files
// ---------------------------------------------------------------------------

const valid = serializeSafetensors({ w: { dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) } });

/** [case name, file bytes, expected message (after the "<path>: " prefix)]. */
const MALFORMED: [string, Uint8Array, RegExp][] = [
  ['shorter than 8 bytes', new Uint8Array([1, 2, 3]), /file is 3 bytes, shorter than the 8-byte header length prefix/],
  ['truncated data section', valid.subarray(0, valid.byteLength - 4),
    /tensor "w": data_offsets \[0, 16\] out of bounds of the 12-byte data section \(file truncated\?\)/],
  ['header length > file size', craft('{}', { lengthOverride: 1000n }), /header length 1000 exceeds file size 10/],
  ['header length over the cap', craft('{}', { lengthOverride: 2n ** 63n }),
    /header length 9223372036854775808 exceeds the 100000000-byte limit/],
  ['header length just over the cap', craft('{}', { lengthOverride: 100_000_001n }), /exceeds the 100000000-byte limit/],
  ['non-JSON header', craft('{"w": {"dtype": '), /header is not valid JSON: /],
  ['empty header', craft(''), /header is not valid JSON: /],
  ['invalid UTF-8 header', craft('{"ab":{}}').map((b, i) => (i === 10 ? 0xff : b)), /header is not valid UTF-8/],
  ['header is an array', craft([1, 2]), /header must be a JSON object, got array/],
  ['header is null', craft('null'), /header must be a JSON object, got null/],
  ['header is a number', craft('42'), /header must be a JSON object, got number/],
  ['entry not an object', craft({ w: [1] }), /tensor "w": entry must be a JSON object, got array/],
  ['unknown dtype', craft({ w: entry('F8', [1], [0, 1]) }, { dataBytes: 1 }),
    /tensor "w": unknown dtype "F8" \(expected one of F64, I64, F32/],
  ['missing dtype', craft({ w: { shape: [1], data_offsets: [0, 1] } }, { dataBytes: 1 }), /tensor "w": missing dtype/],
  ['wrong byte length', craft({ 'net.x.weight': entry('F32', [2, 2], [0, 12]) }, { dataBytes: 16 }),
    /tensor "net\.x\.weight": data_offsets \[0, 12\] length 12 != 4 elements x 4 bytes \(F32, shape \[2,2\]\)$/],
  ['wrong byte length (scalar I64)', craft({ s: entry('I64', [], [0, 4]) }, { dataBytes: 8 }),
    /tensor "s": data_offsets \[0, 4\] length 4 != 1 elements x 8 bytes \(I64, shape \[\]\)/],
  ['offsets out of bounds', craft({ w: entry('F32', [4], [8, 24]) }, { dataBytes: 16 }),
    /tensor "w": data_offsets \[8, 24\] out of bounds of the 16-byte data section/],
  ['overlapping offsets', craft({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }, { dataBytes: 12 }),
    /tensor "b": data_offsets \[4, 12\] overlap tensor "a" at \[0, 8\]/],
  ['begin > end', craft({ w: entry('U8', [0], [8, 4]) }, { dataBytes: 8 }), /tensor "w": data_offsets \[8, 4\] has begin > end/],
  ['offsets not a pair', craft({ w: entry('U8', [1], [0]) }, { dataBytes: 1 }),
    /tensor "w": data_offsets must be \[begin, end\] with non-negative integers, got \[0\]/],
  ['negative offset', craft({ w: entry('U8', [1], [-1, 0]) }, { dataBytes: 1 }), /tensor "w": data_offsets must be/],
  ['negative dimension', craft({ w: entry('U8', [2, -1], [0, 0]) }),
    /tensor "w": shape \[2,-1\] has invalid dimension -1 at index 1 \(must be a non-negative integer\)/],
  ['non-integer dimension', craft({ w: entry('U8', [1.5], [0, 0]) }), /tensor "w": shape \[1\.5\] has invalid dimension 1\.5 at index 0/],
  ['string dimension', craft({ w: entry('U8', ['2'], [0, 2]) }, { dataBytes: 2 }), /has invalid dimension "2" at index 0/],
  ['shape not an array', craft({ w: entry('U8', 2, [0, 2]) }, { dataBytes: 2 }), /tensor "w": shape must be an array/],
  ['__metadata__ non-string value', craft({ __metadata__: { ok: 'x', n: 1 } }),
    /__metadata__ value for key "n" must be a string, got number/],
  ['__metadata__ not an object', craft({ __metadata__: ['a'] }), /__metadata__ must be an object of strings, got array/],
  // Hostile headers (issue 15): deep nesting used to overflow the stack while building the message.
  ['deeply nested shape', craft(`{"w":{"dtype":"F32","shape":${'['.repeat(4000)}${']'.repeat(4000)},"data_offsets":[0,0]}}`),
    /header JSON nests deeper than 8 levels at byte \d+/],
  ['deeply nested offsets', craft(`{"w":{"dtype":"F32","shape":[],"data_offsets":${'['.repeat(4000)}${']'.repeat(4000)}}}`),
    /nests deeper than 8 levels/],
  ['duplicate tensor name', craft('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', { dataBytes: 8 }),
    /tensor "w": listed twice in the header/],
  ['duplicate name spelled with an escape', craft('{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"\\u0077":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}', { dataBytes: 8 }),
    /tensor "w": listed twice/],
  ['too many tensors', craft(`{${Array.from({ length: 100_002 }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`).join(',')}}`),
    /header lists more than 100000 tensors/],
  ['long bad shape (message stays short)', craft({ w: entry('F32', [...Array.from({ length: 100000 }, () => 1), -1], [0, 4]) }, { dataBytes: 4 }),
    /shape \[1,1,.{0,120}\.\.\. has invalid dimension -1 at index 100000/],
];

describe('malformed files are rejected', () => {
  it.each(MALFORMED)('%s', async (label, bytes, message) => {
    const path = join(tmp, `${label.replace(/\W+/g, '_')}.safetensors`);
    await writeFile(path, bytes);
    const error = await SafetensorsFile.open(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SafetensorsError);
    const { message: text } = error as SafetensorsError;
    expect(text.startsWith(`${path}: `), text).toBe(true);
    expect(text).toMatch(message);
    // The pure parser agrees with the file reader.
    expect(() => parseSafetensorsHeader(bytes, bytes.byteLength, 'mem.safetensors')).toThrow(message);
  });

  it('names file and tensor when a tensor is missing', async () => {
    const path = join(tmp, 'valid.safetensors');
    await writeFile(path, valid);
    const file = await SafetensorsFile.open(path);
    expect(file.has('nope')).toBe(false);
    const missing = new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: tensor "nope": no such tensor`);
    expect(() => file.info('nope')).toThrow(missing);
    await expect(file.read('nope')).rejects.toThrow(missing);
    await expect(file.readFloat32('nope')).rejects.toThrow(SafetensorsError);
    expect(Array.from(await file.readFloat32('w'))).toEqual([1, 2, 3, 4]);
    await file.close();
    await file.close(); // idempotent
  });

  it('reports a missing file as a SafetensorsError', async () => {
    await expect(SafetensorsFile.open(join(tmp, 'absent.safetensors'))).rejects.toThrow(/absent\.safetensors: cannot open: ENOENT/);
  });

  it('accepts misaligned offsets, holes and zero-length tensors anywhere', async () => {
    const header = { a: entry('U8', [1], [0, 1]), f: entry('F32', [2], [1, 9]), z: entry('F64', [0], [4, 4]), t: entry('I16', [1], [12, 14]) };
    const bytes = craft(header, { dataBytes: 14 });
    const dataStart = bytes.byteLength - 14;
    new DataView(bytes.buffer).setFloat32(dataStart + 1, -1.5, true);
    new DataView(bytes.buffer).setFloat32(dataStart + 5, 2.25, true);
    const path = join(tmp, 'misaligned.safetensors');
    await writeFile(path, bytes);
    const file = await SafetensorsFile.open(path);
    expect(file.keys()).toEqual(['a', 'f', 'z', 't']);
    expect(await file.read('f')).toEqual(new Float32Array([-1.5, 2.25]));
    expect((await file.read('z')).length).toBe(0);
    await file.close();
  });
});

// ---------------------------------------------------------------------------
// (4) Half-precision conversions
// ---------------------------------------------------------------------------

const ALL_F16 = Uint16Array.from({ length: 65536 }, (_, i) => i);
const isF16NaN = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

describe('half floats', () => {
  it('decodes all 65536 f16 patterns exactly and round-trips them bit-exactly (NaN payloads too)', () => {
    const f32 = f16BitsToF32(ALL_F16);
    const bad: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const want = f16Value(h);
      if (!Object.is(f32[h], want) && !(Number.isNaN(want) && Number.isNaN(f32[h]))) bad.push(`0x${h.toString(16)}`);
    }
    expect(bad).toEqual([]);
    const back = f32ToF16Bits(f32);
    const mismatched = ALL_F16.filter((h) => back[h] !== h);
    expect(Array.from(mismatched)).toEqual([]);
    expect(ALL_F16.filter(isF16NaN).every((h) => isF16NaN(back[h]))).toBe(true);
  });

  it('rounds tricky f32 values to nearest even', () => {
    const cases: [number, number][] = [
      [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [-65520, 0xfc00], [1e10, 0x7c00],
      [Infinity, 0x7c00], [-Infinity, 0xfc00], [0, 0x0000], [-0, 0x8000],
      [2 ** -24, 0x0001], [2 ** -25, 0x0000], [-(2 ** -25), 0x8000], [Math.fround(2 ** -25 * (1 + 2 ** -23)), 0x0001],
      [3 * 2 ** -25, 0x0002], [5 * 2 ** -25, 0x0002], [1e-8, 0x0000], [5e-8, 0x0001], [1.4e-45, 0x0000],
      [2 ** -14, 0x0400], [2 ** -14 - 2 ** -25, 0x0400], [2 ** -14 - 3 * 2 ** -25, 0x03fe], [1023 * 2 ** -24, 0x03ff],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [1 + 2 ** -11 + 2 ** -20, 0x3c01], [2048 + 1, 0x6800],
      [0.1, 0x2e66], [-2.5, 0xc100],
    ];
    const got = f32ToF16Bits(Float32Array.from(cases, ([x]) => x));
    expect(Array.from(got, (h) => `0x${h.toString(16)}`)).toEqual(cases.map(([, h]) => `0x${h.toString(16)}`));
    const nans = new Float32Array(new Uint32Array([0x7fc00000, 0x7f800001, 0xffbfffff, 0x7f802000]).buffer);
    expect(Array.from(f32ToF16Bits(nans)).every(isF16NaN)).toBe(true);
  });

  it('matches an independent float64 rounding on midpoints and random f32 values', () => {
    const f16 = f16BitsToF32(ALL_F16);
    const xs: number[] = [];
    for (let h = 0; h < 0x7c00; h++) {
      const mid = (f16[h] + f16Value(h + 1)) / 2; // exact in float64, and in f32 below 65520
      xs.push(mid, -mid, Math.fround(mid * (1 + 2 ** -23)), Math.fround(mid * (1 - 2 ** -24)));
    }
    let seed = 12345;
    const bits = new Uint32Array(200_000).map(() => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0));
    for (const x of new Float32Array(bits.buffer)) xs.push(x);
    const input = Float32Array.from(xs);
    const out = f16BitsToF32(f32ToF16Bits(input));
    const bad = Array.from(input).flatMap((x, i) => {
      const want = roundToF16(x);
      const ok = Object.is(out[i], want) || (Number.isNaN(want) && Number.isNaN(out[i]));
      return ok ? [] : [`${x} -> ${out[i]} (want ${want})`];
    });
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('bf16 decodes as the top half of f32 and rounds to nearest even', () => {
    const f32 = bf16BitsToF32(ALL_F16);
    const u32 = new Uint32Array(f32.buffer);
    expect(ALL_F16.every((h) => u32[h] === h * 65536)).toBe(true);
    expect(Array.from(f32ToBf16Bits(f32))).toEqual(Array.from(ALL_F16));
    const ties = Float32Array.from([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, 3.4e38, NaN]);
    expect(Array.from(bf16BitsToF32(f32ToBf16Bits(ties)))).toEqual([1, 1 + 2 ** -6, 1 + 2 ** -7, Infinity, NaN]);
  });
});
