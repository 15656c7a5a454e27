// Acquires a WebGPU device through Dawn's Node bindings (npm `webgpu`), requesting only what we use.
import { create, globals } from 'webgpu';

export type Backend = 'vulkan' | 'metal' | 'd3d12' | 'opengl' | 'opengles' | 'null';

export interface DeviceOptions {
  /** Dawn backend; default `DALLE2_BACKEND` env var, else vulkan (metal on macOS, d3d12 on Windows). */
  backend?: Backend;
  /** Dawn adapter name (see `webgpu` README); default `DALLE2_ADAPTER` env var. */
  adapter?: string;
  powerPreference?: GPUPowerPreference;
  /** Ask for f16 support when the adapter has it (default true). */
  f16?: boolean;
  /**
   * Keep WebGPU's default limits, as a browser page gets without asking (kernel portability tests);
   * default false: the adapter's maximum for every limit our kernels depend on.
   */
  defaultLimits?: boolean;
}

export interface AdapterSummary {
  backend: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /**
   * A software rasteriser (lavapipe/llvmpipe, SwiftShader, WARP): invocations run as SIMD lanes of a few CPU
   * threads, so kernels pick different tilings there.
   */
  isSoftware: boolean;
  /** Subgroup size range (when the adapter reports it). */
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  features: string[];
  limits: Record<string, number>;
}

export interface GpuHandle {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: AdapterSummary;
  hasF16: boolean;
  hasTimestamps: boolean;
  hasSubgroups: boolean;
  /** Keeps Dawn's instance alive as long as the device is in use. */
  instance: GPU;
}

// Limits our kernels depend on: we request the adapter's maximum for each, nothing else.
const LIMITS_WE_USE = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  // Alignment limits: the adapter's value is the best one a device may request.
  'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
] as const;

const FEATURES_WE_USE = ['shader-f16', 'timestamp-query', 'subgroups'] as const;

function defaultBackend(): Backend {
  const env = process.env.DALLE2_BACKEND;
  if (env) return env as Backend;
  if (process.platform === 'darwin') return 'metal';
  if (process.platform === 'win32') return 'd3d12';
  return 'vulkan';
}

let globalsInstalled = false;

export async function requestGpu(opts: DeviceOptions = {}): Promise<GpuHandle> {
  if (!globalsInstalled) {
    // GPUBufferUsage & co. are needed as globals by code written against the browser API.
    Object.assign(globalThis, globals);
    globalsInstalled = true;
  }
  const backend = opts.backend ?? defaultBackend();
  const flags = [`backend=${backend}`];
  const adapterName = opts.adapter ?? process.env.DALLE2_ADAPTER;
  if (adapterName) flags.push(`adapter=${adapterName}`);
  const instance = create(flags);
  const adapter = await instance.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new Error(
      `WebGPU: no adapter for backend "${backend}". On Debian run scripts/setup.sh (installs Mesa >= 25 lavapipe); ` +
        `set DALLE2_BACKEND to choose another backend.`,
    );
  }
  const wantF16 = opts.f16 ?? true;
  const requiredFeatures = FEATURES_WE_USE.filter(
    (f) => adapter.features.has(f) && (f !== 'shader-f16' || wantF16),
  ) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  if (!opts.defaultLimits) for (const k of LIMITS_WE_USE) requiredLimits[k] = adapter.limits[k];
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'dalle2-ts' });
  const limits = opts.defaultLimits ? Object.fromEntries(LIMITS_WE_USE.map((k) => [k, device.limits[k]])) : requiredLimits;
  const info = summarise(adapter, backend, requiredFeatures, limits);
  return {
    device,
    adapter,
    info,
    hasF16: device.features.has('shader-f16'),
    hasTimestamps: device.features.has('timestamp-query'),
    hasSubgroups: device.features.has('subgroups'),
    instance,
  };
}

function summarise(adapter: GPUAdapter, backend: string, features: string[], limits: Record<string, number>): AdapterSummary {
  const i = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; isFallbackAdapter?: boolean };
  const text = `${i.vendor} ${i.architecture} ${i.device} ${i.description}`;
  return {
    backend,
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    isSoftware: i.isFallbackAdapter === true || /llvmpipe|lavapipe|swiftshader|\bwarp\b|software/i.test(text),
    subgroupMinSize: i.subgroupMinSize,
    subgroupMaxSize: i.subgroupMaxSize,
    features: [...features],
    limits,
  };
}

export function describeAdapter(info: AdapterSummary): string {
  const name = info.description || info.device || 'unknown adapter';
  const mib = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;
  return (
    `${name} (${info.vendor || 'unknown vendor'}, ${info.architecture || 'n/a'}; backend ${info.backend}; ` +
    `features: ${info.features.join(', ') || 'none'}; maxStorageBufferBindingSize ${mib(info.limits.maxStorageBufferBindingSize)}, ` +
    `maxBufferSize ${mib(info.limits.maxBufferSize)})`
  );
}
