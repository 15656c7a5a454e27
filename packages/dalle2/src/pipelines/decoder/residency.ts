// Unet residency for the decoder cascade: each unet is held built, or loaded at first use from its
// loader and released after its loop, so unets not in use need not hold GPU memory.
import { Unet, type UnetConfig } from '@dalle2/models';
import type { Runtime } from '@dalle2/tensor';
import type { UnetLoader } from './types.js';

interface Slot {
  unet?: Unet;
  loader?: UnetLoader;
  loading?: Promise<Unet>;
}

export class UnetResidency {
  private readonly slots: Slot[];
  /** Known once a unet is built or loaded (or set by the checkpoint loader). */
  rt: Runtime | undefined;

  constructor(
    unets: readonly (Unet | UnetLoader)[],
    private readonly configs: readonly UnetConfig[],
  ) {
    this.slots = unets.map((u, i) => {
      if (u instanceof Unet) {
        this.check(i, u);
        return { unet: u };
      }
      if (typeof u !== 'function') throw new Error(`Decoder: unet ${i + 1} is neither a Unet nor a loader`);
      return { loader: u };
    });
    this.rt = unets.find((u): u is Unet => u instanceof Unet)?.rt;
  }

  get count(): number {
    return this.slots.length;
  }

  /** Keeps `loaders` so a released unet can come back. */
  setLoaders(loaders: readonly UnetLoader[]): void {
    this.slots.forEach((s, i) => (s.loader = loaders[i]));
  }

  isLoaded(index: number): boolean {
    return this.slot(index).unet !== undefined;
  }

  /** Unet `index` (0-based), loading it first if needed. */
  async get(index: number): Promise<Unet> {
    const s = this.slot(index);
    if (s.unet) return s.unet;
    if (!s.loader) throw new Error(`Decoder: unet ${index + 1} was released and has no loader`);
    s.loading ??= s.loader().then(
      (u) => {
        s.loading = undefined;
        try {
          this.check(index, u);
        } catch (e) {
          u.dispose();
          throw e;
        }
        s.unet = u;
        this.rt ??= u.rt;
        return u;
      },
      (e: unknown) => {
        s.loading = undefined;
        throw e;
      },
    );
    return s.loading;
  }

  /** Unet `index` if loaded; throws otherwise. */
  loaded(index: number): Unet {
    const u = this.slot(index).unet;
    if (!u) throw new Error(`Decoder: unet ${index + 1} is not loaded (await decoder.unet(${index}) first)`);
    return u;
  }

  /** The runtime of any unet held now. */
  anyRuntime(): Runtime | undefined {
    return this.rt ?? this.slots.find((s) => s.unet)?.unet?.rt;
  }

  release(index: number): void {
    const s = this.slot(index);
    s.unet?.dispose();
    s.unet = undefined;
  }

  private slot(index: number): Slot {
    const s = this.slots[index];
    if (!s) throw new Error(`Decoder: unet index ${index} outside [0, ${this.slots.length})`);
    return s;
  }

  private check(i: number, u: Unet): void {
    const want = this.configs[i];
    const got = u.config;
    const diff = (['channels', 'channelsOut', 'lowresCond', 'condOnImageEmbeds', 'condOnTextEncodings'] as const).filter((k) => got[k] !== want[k]);
    if (diff.length) throw new Error(`Decoder: unet ${i + 1} does not match the decoder config (${diff.map((k) => `${k} ${String(got[k])} != ${String(want[k])}`).join(', ')})`);
  }
}
