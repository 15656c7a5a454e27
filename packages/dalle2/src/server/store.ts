// Job history on disk: <output dir>/<job id>/job.json (the snapshot) and <index>.png per image, so
// results survive page reloads and server restarts. Every path is built from a checked job id and
// image index, never from a raw request string, and is checked to stay inside the output dir.
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import type { JobSnapshot } from './jobTypes.js';

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const IMAGE_NAME = /^(\d{1,4})\.png$/;

export function isJobId(id: string): boolean {
  return JOB_ID.test(id);
}

/** The image index of a file name like `3.png`, or undefined for anything else. */
export function imageIndexOf(name: string): number | undefined {
  const m = IMAGE_NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

export class JobStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** A path inside the output dir (throws otherwise: a guard behind the id/name checks). */
  private inside(...parts: string[]): string {
    const p = resolve(this.dir, ...parts);
    if (!p.startsWith(this.dir + sep)) throw new Error(`refusing a path outside the output directory: ${p}`);
    return p;
  }

  imagePath(id: string, index: number): string {
    if (!isJobId(id) || !Number.isInteger(index) || index < 0) throw new Error(`bad job id or image index: ${id} ${index}`);
    return this.inside(id, `${index}.png`);
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  private async writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
    const tmp = `${path}.${process.pid}.partial`;
    await writeFile(tmp, data);
    await rename(tmp, path);
  }

  async saveImage(id: string, index: number, png: Uint8Array): Promise<void> {
    await mkdir(this.inside(id), { recursive: true });
    await this.writeAtomic(this.imagePath(id, index), png);
  }

  async saveJob(job: JobSnapshot): Promise<void> {
    if (!isJobId(job.id)) throw new Error(`bad job id ${job.id}`);
    await mkdir(this.inside(job.id), { recursive: true });
    const { progress: _progress, position: _position, ...kept } = job;
    await this.writeAtomic(this.inside(job.id, 'job.json'), `${JSON.stringify(kept, null, 1)}\n`);
  }

  /**
   * Every job recorded in the output dir. A job that was queued or running when the server stopped is
   * reported failed (its uploads were not kept, so it cannot resume). Unreadable records are skipped.
   */
  async loadAll(): Promise<JobSnapshot[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const jobs: JobSnapshot[] = [];
    for (const name of names.filter(isJobId)) {
      try {
        const job = JSON.parse(await readFile(this.inside(name, 'job.json'), 'utf8')) as JobSnapshot;
        if (job.id !== name || !Array.isArray(job.images)) continue;
        if (job.state === 'queued' || job.state === 'running') {
          jobs.push({ ...job, state: 'failed', error: 'the server stopped before this job finished', cancelRequested: undefined });
        } else {
          jobs.push(job);
        }
      } catch {
        // not a job directory of ours (or a half-written one): leave it alone
      }
    }
    return jobs;
  }

  /** Reads an image file, or undefined when it does not exist. */
  async readImage(id: string, index: number): Promise<Buffer | undefined> {
    return readFile(this.imagePath(id, index)).catch(() => undefined);
  }
}
