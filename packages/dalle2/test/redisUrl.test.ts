// --queue URLs: parsed into BullMQ connection options; the password never appears in what is printed.
import { describe, expect, it } from 'vitest';
import { parseRedisUrl, redactRedisUrl, RedisUrlError } from '../src/queue/redisUrl.js';

describe('redis URLs', () => {
  it('parses host, port, database, user and password', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6390/2').connection).toMatchObject({ host: '127.0.0.1', port: 6390, db: 2, maxRetriesPerRequest: null });
    expect(parseRedisUrl('redis://gpu-queue').connection).toMatchObject({ host: 'gpu-queue', port: 6379, db: 0 });
    const secret = parseRedisUrl('rediss://worker:s%40cret@10.0.0.5:6380/1');
    expect(secret.connection).toMatchObject({ host: '10.0.0.5', port: 6380, db: 1, username: 'worker', password: 's@cret', tls: {} });
    expect(secret.display).toBe('rediss://worker:***@10.0.0.5:6380/1');
    expect(parseRedisUrl('redis://:pw@[::1]:6379').connection).toMatchObject({ host: '::1', password: 'pw' });
  });

  it('never prints the password, also in its errors', () => {
    expect(redactRedisUrl('redis://:hunter2@h:1/0')).toBe('redis://:***@h:1/0');
    expect(redactRedisUrl('redis://h:1/0')).toBe('redis://h:1/0');
    for (const bad of ['http://:hunter2@h:1/0', 'redis://:hunter2@h:1/zero', 'not a url hunter2']) {
      let message = '';
      try {
        parseRedisUrl(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(RedisUrlError);
        message = (e as Error).message;
      }
      expect(message).toMatch(/^--queue: /);
      if (bad.includes('@')) expect(message).not.toContain('hunter2');
    }
  });
});
