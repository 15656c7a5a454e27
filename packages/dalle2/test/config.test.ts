// ModelLoadConfig parsing: the demo model's real config, upstream's example shape, path resolution,
// and one test per error kind asserting JSON path and message.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadModelLoadConfig, parseModelLoadConfig, type ModelLoadConfig } from '../src/config/index.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

afterAll(removeTempDirs);

// The demo model in ../shared next to the repository (CI has it).
const DEMO = fileURLToPath(new URL('../../../../shared/demo-model', import.meta.url));
const local = (path: string) => ({ load_type: 'local', path });

/** A valid two-source config to break in tests. */
function base(): Record<string, any> {
  return {
    prior: { load_model_from: local('prior.pth'), default_sample_timesteps: 32, default_cond_scale: 1.0 },
    decoder: {
      unet_sources: [
        { unet_numbers: [1], load_model_from: local('d1.pth'), default_cond_scale: [2.0] },
        { unet_numbers: [2], load_model_from: local('d2.pth'), default_sample_timesteps: [16] },
      ],
    },
  };
}

/** Issues of a config expected to be invalid. */
function issues(json: unknown): { path: string; message: string }[] {
  try {
    parseModelLoadConfig(json, 'cfg.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

describe('demo model', () => {
  it('parses shared/demo-model/model_config.json with paths resolved against its folder', async () => {
    const config = await loadModelLoadConfig(join(DEMO, 'model_config.json'));
    expect(config).toEqual<ModelLoadConfig>({
      clip: { make: 'openai', model: 'clip.safetensors' },
      prior: {
        load_model_from: { load_type: 'local', path: join(DEMO, 'prior.pth'), check_updates: true, origin: 'prior.load_model_from' },
        load_config_from: {
          load_type: 'local',
          path: join(DEMO, 'prior_config.json'),
          check_updates: true,
          origin: 'prior.load_config_from',
        },
        default_sample_timesteps: 32,
        default_cond_scale: 1,
      },
      decoder: {
        unet_sources: [
          {
            unet_numbers: [1, 2],
            load_model_from: {
              load_type: 'local',
              path: join(DEMO, 'decoder.pth'),
              check_updates: true,
              origin: 'decoder.unet_sources[0].load_model_from',
            },
            default_sample_timesteps: [32, 16],
            default_cond_scale: [2, 1],
          },
        ],
        final_unet_number: 2,
      },
      devices: 'cpu',
      load_on_cpu: true,
      strict_loading: false,
    });
  });
});

describe('valid configs', () => {
  it("accepts upstream's example shape (url files, cache_dir, filename_override, clip defaults)", () => {
    const hf = 'https://huggingface.co/laion/DALLE2-PyTorch';
    const config = parseModelLoadConfig(
      {
        prior: {
          load_model_from: { load_type: 'url', path: `${hf}/resolve/main/prior/latest.pth`, cache_dir: './models', filename_override: 'prior.pth' },
          load_config_from: { load_type: 'url', path: `${hf}/raw/main/prior/prior_config.json`, cache_dir: './models' },
        },
        clip: {},
        devices: ['cuda:0', 'cuda:1'],
        strict_loading: false,
      },
      '/etc/dalle2/load.json',
    );
    expect(config.prior?.load_model_from).toEqual({
      load_type: 'url',
      path: `${hf}/resolve/main/prior/latest.pth`,
      cache_dir: '/etc/dalle2/models',
      filename_override: 'prior.pth',
      check_updates: true,
      origin: 'prior.load_model_from',
    });
    expect(config.clip).toEqual({ make: 'openai', model: 'ViT-L/14' });
    expect(config).toMatchObject({ devices: ['cuda:0', 'cuda:1'], load_on_cpu: true, strict_loading: false });
  });

  it('null optional fields are absent; check_updates and clip weights are read', () => {
    const config = parseModelLoadConfig({
      clip: { make: 'x-clip', model: 'mine', load_model_from: { ...local('/abs/clip.safetensors'), check_updates: false } },
      prior: { load_model_from: { ...local('p.pth'), cache_dir: null }, load_config_from: null, default_cond_scale: null },
      decoder: null,
    });
    expect(config.prior).toEqual({ load_model_from: { load_type: 'local', path: 'p.pth', check_updates: true, origin: 'prior.load_model_from' } });
    expect(config.clip?.load_model_from).toMatchObject({ path: '/abs/clip.safetensors', check_updates: false });
    expect('decoder' in config).toBe(false);
  });

  it('computes final_unet_number from several sources', () => {
    const config = parseModelLoadConfig(base(), '/x/cfg.json');
    expect(config.decoder?.final_unet_number).toBe(2);
    expect(config.decoder?.unet_sources[1].load_model_from.path).toBe('/x/d2.pth');
  });

  it("unknownKeys: 'ignore' drops unknown keys like upstream", () => {
    const json = { ...base(), extra: 1 };
    expect(parseModelLoadConfig(json, undefined, { unknownKeys: 'ignore' })).not.toHaveProperty('extra');
  });
});

describe('errors name the JSON path', () => {
  it('missing field', () => {
    const json = base();
    delete json.prior.load_model_from;
    expect(issues(json)).toEqual([{ path: 'prior.load_model_from', message: 'required field is missing' }]);
  });

  it('wrong type', () => {
    const json = base();
    json.prior.default_sample_timesteps = '32';
    json.decoder.unet_sources[0].default_cond_scale = 2;
    expect(issues(json)).toEqual([
      { path: 'prior.default_sample_timesteps', message: 'expected an integer, got string "32"' },
      { path: 'decoder.unet_sources[0].default_cond_scale', message: 'expected an array, got number 2' },
    ]);
  });

  it('bad load_type', () => {
    const json = base();
    json.decoder.unet_sources[1].load_model_from.load_type = 's3';
    expect(issues(json)).toEqual([
      { path: 'decoder.unet_sources[1].load_model_from.load_type', message: 'expected one of "local", "url", got string "s3"' },
    ]);
  });

  it('url that is not http(s)', () => {
    const json = base();
    json.prior.load_model_from = { load_type: 'url', path: 'prior.pth' };
    expect(issues(json)).toEqual([{ path: 'prior.load_model_from.path', message: 'load_type "url" needs an http(s) URL, got "prior.pth"' }]);
  });

  it('unet numbers: duplicate', () => {
    const json = base();
    json.decoder.unet_sources[1].unet_numbers = [2, 1];
    json.decoder.unet_sources[1].default_sample_timesteps = [16, 16];
    expect(issues(json)).toEqual([
      { path: 'decoder.unet_sources[1].unet_numbers', message: 'unet 1 is supplied twice (also by decoder.unet_sources[0])' },
    ]);
  });

  it('unet numbers: duplicate inside one source', () => {
    const json = base();
    json.decoder.unet_sources[0].unet_numbers = [1, 1];
    json.decoder.unet_sources[0].default_cond_scale = [2, 2];
    expect(issues(json)).toEqual([
      { path: 'decoder.unet_sources[0].unet_numbers', message: 'unet 1 is supplied twice (listed twice in this source)' },
    ]);
  });

  it('unet numbers: gap', () => {
    const json = base();
    json.decoder.unet_sources[1].unet_numbers = [4];
    expect(issues(json)).toEqual([
      { path: 'decoder.unet_sources', message: 'unet numbers must cover 1..4 without gaps: missing unets 2, 3 (supplied: 1, 4)' },
    ]);
  });

  it('unet numbers: not starting at 1, and below 1', () => {
    const json = base();
    json.decoder.unet_sources[0].unet_numbers = [3];
    expect(issues(json)[0]).toEqual({ path: 'decoder.unet_sources', message: expect.stringContaining('missing unet 1 ') });
    json.decoder.unet_sources[0].unet_numbers = [0];
    expect(issues(json)).toEqual([{ path: 'decoder.unet_sources[0].unet_numbers[0]', message: 'must be >= 1, got number 0' }]);
  });

  it('cond scale / timesteps list length mismatch', () => {
    const json = base();
    json.decoder.unet_sources[0].default_cond_scale = [2.0, 1.0];
    json.decoder.unet_sources[1].default_sample_timesteps = [];
    expect(issues(json)).toEqual([
      {
        path: 'decoder.unet_sources[0].default_cond_scale',
        message: 'has 2 entries but unet_numbers lists 1 unet (one value per unet, same order)',
      },
      {
        path: 'decoder.unet_sources[1].default_sample_timesteps',
        message: 'has 0 entries but unet_numbers lists 1 unet (one value per unet, same order)',
      },
    ]);
  });

  it('unknown key, with a suggestion for a typo', () => {
    const json = base();
    json.prior.default_cond_scales = 2;
    json.prior.load_model_from.chache_dir = '/tmp';
    const found = issues(json);
    expect(found.map((i) => i.path)).toEqual(['prior.load_model_from.chache_dir', 'prior.default_cond_scales']);
    expect(found[0].message).toMatch(/^unknown key \(did you mean "cache_dir"\?\); allowed keys: load_type, path, /);
    expect(found[1].message).toMatch(/^unknown key \(did you mean "default_cond_scale"\?\)/);
  });

  it('reports several errors at once, in one message', () => {
    const json = base();
    Object.assign(json, { load_on_cpu: 'yes', devices: 3 });
    json.prior.load_model_from.load_type = 'ftp';
    json.decoder.unet_sources[1].unet_numbers = [3];
    let message = '';
    try {
      parseModelLoadConfig(json, 'cfg.json');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe(
      [
        'Invalid model load config cfg.json (4 problems):',
        '  - prior.load_model_from.load_type: expected one of "local", "url", got string "ftp"',
        '  - devices: expected a device name or a list of device names',
        '  - load_on_cpu: expected true or false, got string "yes"',
        '  - decoder.unet_sources: unet numbers must cover 1..3 without gaps: missing unet 2 (supplied: 1, 3)',
      ].join('\n'),
    );
  });

  it('not an object / empty unet_sources / bad filename_override', () => {
    expect(issues([])).toEqual([{ path: '(root)', message: 'expected a JSON object, got an array' }]);
    expect(issues({ decoder: { unet_sources: [] } })).toEqual([{ path: 'decoder.unet_sources', message: 'must list at least 1 entry' }]);
    const json = base();
    json.prior.load_model_from.filename_override = '../escape.pth';
    expect(issues(json)[0].path).toBe('prior.load_model_from.filename_override');
  });

  it('loadModelLoadConfig: unreadable file and invalid JSON', async () => {
    const dir = await tempDir();
    await expect(loadModelLoadConfig(join(dir, 'none.json'))).rejects.toThrow(/cannot read config file/);
    await writeFile(join(dir, 'bad.json'), '{ "prior": ');
    await expect(loadModelLoadConfig(join(dir, 'bad.json'))).rejects.toThrow(/bad\.json .*\n {2}- \(file\): not valid JSON/);
  });
});

describe('hostile configs are bounded up front (issue 15)', () => {
  /** Expects a ConfigError within a second whose first issue is at `path` and matches `message`. */
  function refused(json: unknown, path: string, message: RegExp): void {
    const t0 = Date.now();
    const found = issues(json);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(found[0].path).toBe(path);
    expect(found[0].message).toMatch(message);
  }

  it.each([1e8, 2 ** 31, 2 ** 32, 1e308])('unet number %d is out of range, not enumerated', (n) => {
    const cfg = base();
    cfg.decoder.unet_sources[1].unet_numbers = [n];
    refused(cfg, 'decoder.unet_sources[1].unet_numbers[0]', /must be <= (64|9007199254740991), got number/);
  });

  it('a long valid-looking list 1..200000 is refused by length, without spreading it', () => {
    const cfg = base();
    cfg.decoder.unet_sources[0].unet_numbers = Array.from({ length: 200_000 }, (_, i) => i + 1);
    refused(cfg, 'decoder.unet_sources[0].unet_numbers', /lists 200000 entries \(limit 10000\)/);
  });

  it('~150k invalid entries: one bounded error, not a stack overflow', () => {
    const cfg = base();
    cfg.decoder.unet_sources[0].default_cond_scale = Array.from({ length: 150_000 }, () => 'x');
    refused(cfg, 'decoder.unet_sources[0].default_cond_scale', /lists 150000 entries/);
    // Under the bound, many issues still make one readable message.
    const many = base();
    many.decoder.unet_sources[0].default_cond_scale = Array.from({ length: 5000 }, () => 'x');
    try {
      parseModelLoadConfig(many, 'cfg.json');
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues.length).toBeGreaterThan(5000);
      expect((err as Error).message).toMatch(/\.\.\. and \d+ more$/);
      expect((err as Error).message.split('\n').length).toBeLessThan(60);
    }
  });

  it('deeply nested base_model_kwargs name the JSON path of the bound', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const cfg = base();
    cfg.clip = { make: 'openai', base_model_kwargs: deep };
    refused(cfg, `clip.base_model_kwargs${'.a'.repeat(30)}`, /nested deeper than 32 levels/);
  });

  it('too many values in all', () => {
    const cfg = base();
    cfg.clip = { base_model_kwargs: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, Array.from({ length: 9000 }, () => 0)])) };
    refused(cfg, '(root)', /holds more than 100000 values/);
  });

  it('loadModelLoadConfig refuses an oversized file before reading it', async () => {
    const dir = await tempDir();
    const path = join(dir, 'huge.json');
    await writeFile(path, Buffer.alloc(17 * 2 ** 20, 0x20));
    await expect(loadModelLoadConfig(path)).rejects.toThrow(/huge\.json .*config file is 17825792 bytes \(limit 16777216\)/s);
  });
});
