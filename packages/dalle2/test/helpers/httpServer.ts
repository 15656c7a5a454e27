// A real HTTP server on 127.0.0.1 (random port) for download tests: routes, a request log, and a
// byte-serving handler that can honour Range and inject faults (cut connection, stall).
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  path: string;
  range: string | undefined;
  ifRange: string | undefined;
  status?: number;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Per-request fault: send `cutAfter` bytes then drop the connection, or `stallAfter` bytes then go silent. */
export interface Fault {
  cutAfter?: number;
  stallAfter?: number;
  /** Stall before sending any header. */
  stallHeaders?: boolean;
}

export interface ServeOptions {
  /** Answer `Range: bytes=N-` with 206 (default true). */
  ranges?: boolean;
  /** faults[i] applies to the i-th request of this route. */
  faults?: (Fault | undefined)[];
  etag?: string;
  /** Content-Length to announce instead of the real one. */
  announceLength?: number;
}

export class TestServer {
  readonly requests: RecordedRequest[] = [];
  private readonly routes = new Map<string, Handler>();

  private constructor(
    private readonly server: Server,
    readonly base: string,
    readonly host: string,
  ) {}

  static async start(): Promise<TestServer> {
    let self: TestServer | undefined;
    const server = createServer((req, res) => self?.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new TestServer(server, `http://127.0.0.1:${port}`, `127.0.0.1:${port}`);
    return self;
  }

  route(path: string, handler: Handler): void {
    this.routes.set(path, handler);
  }

  url(path: string): string {
    return `${this.base}${path}`;
  }

  requestsFor(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const record: RecordedRequest = { path, range: header(req, 'range'), ifRange: header(req, 'if-range') };
    this.requests.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    const handler = this.routes.get(path);
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    handler(req, res);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function serveText(text: string): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(text);
  };
}

/** Serves `data()` (read per request so tests can swap the content), with optional Range and faults. */
export function serveBytes(data: () => Buffer, opts: ServeOptions = {}): Handler {
  let count = 0;
  return (req, res) => {
    const fault = opts.faults?.[count++];
    if (fault?.stallHeaders) return;
    const body = data();
    const m = /^bytes=(\d+)-$/.exec(header(req, 'range') ?? '');
    const start = opts.ranges !== false && m ? Number(m[1]) : 0;
    if (start >= body.length && m && opts.ranges !== false) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    const slice = body.subarray(start);
    const headers: Record<string, string | number> = {
      'content-length': opts.announceLength ?? slice.length,
      'accept-ranges': opts.ranges === false ? 'none' : 'bytes',
    };
    if (opts.etag) headers.etag = opts.etag;
    if (start > 0) headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    res.writeHead(start > 0 ? 206 : 200, headers);
    sendWithFault(res, slice, fault);
  };
}

function sendWithFault(res: ServerResponse, slice: Buffer, fault: Fault | undefined): void {
  const limit = fault?.cutAfter ?? fault?.stallAfter;
  if (limit === undefined) {
    res.end(slice);
    return;
  }
  res.write(slice.subarray(0, limit));
  // Give the client time to read what was sent before the connection drops (or just goes quiet).
  if (fault?.cutAfter !== undefined) setTimeout(() => res.destroy(), 100);
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A git-LFS pointer text, as Hugging Face serves it under `/raw/`. */
export function lfsPointer(data: Buffer): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(data)}\nsize ${data.length}\n`;
}

/** Deterministic pseudo-random bytes. */
export function testBytes(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
