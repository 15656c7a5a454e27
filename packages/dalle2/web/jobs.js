// Job cards: state, queue position, live progress and previews (server-sent events), cancel, and the
// finished images with the parameters they were made with. History comes from GET /api/jobs.

const FINAL = new Set(['done', 'failed', 'cancelled']);
const cards = new Map();

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

function describe(req) {
  if (req.kind === 'dream') return req.prompts.join(' | ');
  if (req.kind === 'variation') return req.text ? `variation: ${req.text}` : 'variation of an uploaded image';
  return `inpaint: ${req.prompt}`;
}

function stageText(p) {
  const stage = p.stage === 'prior' ? 'prior' : `decoder unet ${p.unet}/${p.unets}`;
  const batch = p.batches > 1 ? ` batch ${p.batch + 1}/${p.batches}` : '';
  const eta = p.etaSeconds !== undefined ? `, about ${Math.ceil(p.etaSeconds)} s left` : '';
  return `${stage}${batch}: step ${p.step}/${p.steps} (${Math.round(p.fraction * 100)}%${eta})`;
}

/** The parameters of an image, as a short text block. */
function parameterText(p) {
  const lines = [];
  if (p.prompt !== undefined) lines.push(`prompt: ${p.prompt}`);
  lines.push(`seed ${p.seed} (run ${p.runSeed}, sample ${p.sample})`);
  if (p.plan.priorSteps !== undefined) lines.push(`prior: ${p.plan.priorSteps} steps, cond scale ${p.plan.priorCondScale}`);
  lines.push(`decoder: steps ${p.plan.decoderSteps.join(', ')}; cond scale ${p.plan.decoderCondScale.join(', ')}`);
  lines.push(`model ${p.model.digest}`);
  return lines.join('\n');
}

function imageFigure(image) {
  const img = el('img', { src: image.url, alt: `image ${image.index + 1}`, class: 'result', width: '160', height: '160' });
  const link = el('a', { href: `${image.url}?download=1`, download: '', class: 'download', text: 'download' });
  return el('figure', { 'data-index': String(image.index) }, img, el('figcaption', {}, el('pre', { text: parameterText(image.parameters) }), link));
}

class JobCard {
  constructor(job, container) {
    this.id = job.id;
    this.state = el('span', { class: 'state' });
    this.cancel = el('button', { type: 'button', class: 'cancel', text: 'Cancel' });
    this.cancel.addEventListener('click', () => this.requestCancel());
    this.bar = el('progress', { max: '1', value: '0' });
    this.progress = el('span', { class: 'progress-text' });
    this.previews = el('div', { class: 'previews' });
    this.images = el('div', { class: 'images' });
    this.error = el('p', { class: 'job-error' });
    this.notes = el('p', { class: 'job-notes' });
    const head = el('div', { class: 'job-head' }, el('strong', { text: job.kind }), ' ', this.state, ' ', this.cancel);
    this.root = el('article', { class: 'job', id: `job-${job.id}` }, head, el('p', { class: 'request', text: describe(job.request) }),
      el('div', { class: 'progress' }, this.bar, ' ', this.progress), this.previews, this.images, this.notes, this.error);
    container.prepend(this.root);
    this.update(job);
  }

  update(job) {
    const where = job.state === 'queued' && job.position ? ` (position ${job.position} in the queue)` : '';
    const stopping = job.cancelRequested && job.state === 'running' ? ' (cancelling at the next step)' : '';
    this.state.textContent = `${job.state}${where}${stopping}`;
    this.root.dataset.state = job.state;
    this.cancel.hidden = FINAL.has(job.state);
    this.error.textContent = job.error ?? '';
    this.notes.textContent = (job.notes ?? []).join('\n');
    if (job.progress) this.setProgress(job.progress);
    if (FINAL.has(job.state)) {
      this.previews.replaceChildren();
      this.bar.hidden = job.state !== 'done';
      if (job.state === 'done') this.bar.value = 1;
      this.progress.textContent = job.state === 'done' ? `${job.images.length} image(s)` : '';
    }
    for (const image of job.images) this.addImage(image);
  }

  setProgress(p) {
    this.bar.value = p.fraction;
    this.progress.textContent = stageText(p);
  }

  setPreview(preview) {
    const imgs = preview.images.map((im) => el('img', { src: im.url, class: 'preview', alt: `preview ${im.index + 1}`, width: '96', height: '96' }));
    this.previews.replaceChildren(el('span', { text: `preview at unet ${preview.unet} step ${preview.step + 1}` }), ...imgs);
  }

  addImage(image) {
    if (this.images.querySelector(`figure[data-index="${image.index}"]`)) return;
    const figures = [...this.images.children, imageFigure(image)].sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index));
    this.images.replaceChildren(...figures);
  }

  async requestCancel() {
    const r = await fetch(`/api/jobs/${this.id}`, { method: 'DELETE' });
    if (r.ok) this.update(await r.json());
  }

  /** Follows the job's event stream until it ends. */
  follow() {
    const es = new EventSource(`/api/jobs/${this.id}/events`);
    es.addEventListener('state', (m) => {
      const job = JSON.parse(m.data).job;
      this.update(job);
      if (FINAL.has(job.state)) es.close();
    });
    es.addEventListener('progress', (m) => this.setProgress(JSON.parse(m.data).progress));
    es.addEventListener('preview', (m) => this.setPreview(JSON.parse(m.data).preview));
    es.addEventListener('image', (m) => this.addImage(JSON.parse(m.data).image));
  }
}

/** Shows a job (new or from history) and follows it while it is not finished. */
export function showJob(job, container) {
  let card = cards.get(job.id);
  if (!card) {
    card = new JobCard(job, container);
    cards.set(job.id, card);
  } else {
    card.update(job);
  }
  if (!FINAL.has(job.state)) card.follow();
}

/** The history (oldest first into the list, so the newest ends on top). */
export async function loadHistory(container) {
  const r = await fetch('/api/jobs?limit=100');
  const { jobs } = await r.json();
  for (const job of jobs.reverse()) showJob(job, container);
}
