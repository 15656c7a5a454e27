// Helpers for the web API tests: JSON requests, a server-sent-events reader, raw HTTP requests (paths
// sent exactly as written) and crafted upload files.
import { request } from 'node:http';
import { crc32 } from 'node:zlib';
import type { JobEvent, JobSnapshot } from '../../src/server/index.js';

export async function api<T = unknown>(base: string, path: string, init: { method?: string; body?: unknown; raw?: string } = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const hasBody = init.body !== undefined || init.raw !== undefined;
  const r = await fetch(base + path, {
    method: init.method ?? (hasBody ? 'POST' : 'GET'),
    headers: hasBody ? { 'content-type': 'application/json' } : undefined,
    body: init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
  });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: r.status, body: body as T, headers: r.headers };
}

export async function submit(base: string, body: unknown): Promise<JobSnapshot> {
  const r = await api<JobSnapshot & { error?: string }>(base, '/api/jobs', { body });
  if (r.status !== 202) throw new Error(`POST /api/jobs: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const FINAL = new Set(['done', 'failed', 'cancelled']);

/** Reads a job's event stream until its final state event; `onEvent` sees each event as it comes. */
export async function readEvents(base: string, id: string, onEvent?: (e: JobEvent) => void): Promise<JobEvent[]> {
  const r = await fetch(`${base}/api/jobs/${id}/events`);
  if (r.status !== 200 || !r.body) throw new Error(`events: HTTP ${r.status}`);
  if (!r.headers.get('content-type')?.startsWith('text/event-stream')) throw new Error(`events: ${r.headers.get('content-type')}`);
  const events: JobEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of r.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (!data) continue;
      const e = JSON.parse(data.slice(6)) as JobEvent;
      events.push(e);
      onEvent?.(e);
    }
  }
  const last = events.at(-1);
  if (!last || last.type !== 'state' || !FINAL.has(last.job.state)) throw new Error(`event stream ended without a final state (${events.length} events)`);
  return events;
}

/** Polls a job until it is in a final state. */
export async function waitFinal(base: string, id: string, timeoutMs = 60_000): Promise<JobSnapshot> {
  const t0 = Date.now();
  for (;;) {
    const { body } = await api<JobSnapshot>(base, `/api/jobs/${id}`);
    if (FINAL.has(body.state)) return body;
    if (Date.now() - t0 > timeoutMs) throw new Error(`job ${id} still ${body.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A GET with the path sent byte for byte (fetch would normalise `..`). */
export function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A tiny file whose PNG header claims width x height (a decompression bomb's shape). */
export function pngHeaderOnly(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const idat = Buffer.from([120, 156, 3, 0, 0, 0, 0, 1]);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]);
}

export function dataUrl(bytes: Uint8Array, type = 'image/png'): string {
  return `data:${type};base64,${Buffer.from(bytes).toString('base64')}`;
}
