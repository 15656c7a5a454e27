// Prior config parsing (TrainDiffusionPriorConfig JSON) and the host-side helpers; no GPU needed.
import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { parsePriorNetConfig, loadPriorNetConfig, relPositionBucket, rotaryDim } from '../src/prior/index.js';

const FIXTURES = new URL('../../../../shared/fixtures/', import.meta.url);
const configPath = fileURLToPath(new URL('prior/config.json', FIXTURES));

/** The fixture config with prior.net patched. */
async function withNet(patch: Record<string, unknown>, drop: string[] = []): Promise<unknown> {
  const doc = JSON.parse(await readFile(configPath, 'utf8')) as { prior: { net: Record<string, unknown> } };
  Object.assign(doc.prior.net, patch);
  for (const k of drop) delete doc.prior.net[k];
  return doc;
}

describe('parsePriorNetConfig', () => {
  it('reads prior.net of the fixture config, as file or object', async () => {
    const doc = JSON.parse(await readFile(configPath, 'utf8')) as { prior: { net: Record<string, number | boolean> } };
    const net = doc.prior.net;
    const c = await loadPriorNetConfig(configPath);
    expect(c.dim).toBe(net.dim);
    expect(c.depth).toBe(net.depth);
    expect(c.heads).toBe(net.heads);
    expect(c.dimHead).toBe(net.dim_head);
    expect(c.maxTextLen).toBe(net.max_text_len);
    expect(c.numTimesteps).toBe(net.num_timesteps);
    expect(c.normformer).toBe(net.normformer);
    expect(parsePriorNetConfig(doc)).toEqual(c);
  });

  it('applies DiffusionPriorNetworkConfig defaults', async () => {
    const c = parsePriorNetConfig(await withNet({}, ['heads', 'dim_head', 'ff_mult', 'norm_out', 'normformer', 'rotary_emb', 'num_time_embeds']));
    expect(c).toMatchObject({ heads: 8, dimHead: 64, ffMult: 4, normIn: false, normOut: true, normformer: false, rotaryEmb: true, numTimeEmbeds: 1, finalProj: true });
  });

  it('names the JSON path of bad values', async () => {
    await expect(async () => parsePriorNetConfig(await withNet({ dim: '64' }), 'cfg.json')).rejects.toThrow(
      'cfg.json: prior.net.dim: expected an integer >= 1, got "64" (string)',
    );
    await expect(async () => parsePriorNetConfig(await withNet({ heads: 0 }))).rejects.toThrow(/prior\.net\.heads: expected an integer >= 1, got 0/);
    await expect(async () => parsePriorNetConfig(await withNet({ depth: 2.5 }))).rejects.toThrow(/prior\.net\.depth: expected an integer/);
    await expect(async () => parsePriorNetConfig(await withNet({ normformer: 'yes' }))).rejects.toThrow(/prior\.net\.normformer: expected true or false/);
    await expect(async () => parsePriorNetConfig(await withNet({ attn_dropout: 1.5 }))).rejects.toThrow(/prior\.net\.attn_dropout: expected a probability/);
    expect(() => parsePriorNetConfig({ prior: {} })).toThrow(/prior\.net: expected an object, got nothing/);
    expect(() => parsePriorNetConfig([])).toThrow(/expected a JSON object/);
    expect(() => parsePriorNetConfig('{nope', 'x.json')).toThrow(/x\.json: not valid JSON/);
  });

  it('rejects unsupported options by name', async () => {
    await expect(async () => parsePriorNetConfig(await withNet({ num_timesteps: null }))).rejects.toThrow(
      /prior\.net\.num_timesteps: null selects continuous SinusoidalPosEmb \+ MLP time embeddings, which are not supported/,
    );
    await expect(async () => parsePriorNetConfig(await withNet({}, ['max_text_len']))).rejects.toThrow(/prior\.net\.max_text_len: is required/);
    await expect(async () => parsePriorNetConfig(await withNet({ pb_relax_alpha: 64 }))).rejects.toThrow(/prior\.net\.pb_relax_alpha: unknown option/);
  });
});

describe('prior host helpers', () => {
  it('relPositionBucket follows T5 bucketing (exact below 16, log-spaced to 31, future keys 0)', () => {
    expect([0, 3, 1, -1, -15].map((r) => relPositionBucket(r))).toEqual([0, 0, 0, 1, 15]);
    // 16 + trunc(log(n / 16) / log(8) * 16): n = 16 -> 16, 32 -> 21 (5.33), 64 -> 26 (10.67), 127 -> 31 (15.94)
    expect([-16, -32, -64, -127, -128, -1000].map((r) => relPositionBucket(r))).toEqual([16, 21, 26, 31, 31, 31]);
  });

  it('rotaryDim is the even part of min(32, dim_head)', () => {
    expect([64, 40, 32, 31, 16].map(rotaryDim)).toEqual([32, 32, 32, 30, 16]);
  });
});
