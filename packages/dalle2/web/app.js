// The page: three tabs (Dream, Variation, Inpaint) over the HTTP JSON API. Sliders and step fields
// come from GET /api/model (one decoder cond scale per unet); jobs are posted to /api/jobs and followed
// through their event streams (jobs.js).
import { loadHistory, showJob } from './jobs.js';
import { MaskPainter, drawCropped, fileDataUrl } from './paint.js';

const $ = (id) => document.getElementById(id);
let model;

function field(label, input) {
  const l = document.createElement('label');
  l.append(`${label} `, input);
  return l;
}

function numberInput(id, attrs) {
  const i = document.createElement('input');
  Object.assign(i, { id, type: 'number', ...attrs });
  return i;
}

function slider(id, label, value) {
  const { min, max, step } = model.limits.condScale;
  const input = Object.assign(document.createElement('input'), { id, type: 'range', min, max, step, value: Math.min(max, Math.max(min, value)) });
  const out = Object.assign(document.createElement('output'), { id: `${id}-value`, value: input.value });
  input.addEventListener('input', () => (out.value = input.value));
  const l = field(label, input);
  l.append(' ', out);
  return l;
}

/** Seed, steps per stage and cond-scale sliders of one tab (the prior's only where the job uses it). */
function buildSettings(kind) {
  const box = document.querySelector(`.settings[data-kind="${kind}"]`);
  const usesPrior = kind !== 'variation' && model.prior;
  const seed = numberInput(`${kind}-seed`, { min: 0, max: model.limits.maxSeed, value: 0 });
  const random = Object.assign(document.createElement('input'), { id: `${kind}-random-seed`, type: 'checkbox', checked: true });
  seed.disabled = true;
  random.addEventListener('change', () => (seed.disabled = random.checked));
  const parts = [field('Seed', seed), field('random', random)];
  if (usesPrior) parts.push(field('Prior steps', numberInput(`${kind}-prior-steps`, { min: 1, max: model.prior.maxSteps, value: model.prior.defaultSteps })));
  for (const u of model.decoder.unets) {
    parts.push(field(`Decoder unet ${u.number} steps`, numberInput(`${kind}-decoder-steps-${u.number}`, { min: 1, max: model.decoder.maxSteps, value: u.defaultSteps })));
  }
  if (usesPrior) parts.push(slider(`${kind}-prior-cond`, 'Prior cond scale', model.prior.defaultCondScale));
  // upstream's variation guides every unet with 1.0 by default
  for (const u of model.decoder.unets) parts.push(slider(`${kind}-cond-${u.number}`, `Decoder unet ${u.number} cond scale`, kind === 'variation' ? 1 : u.defaultCondScale));
  box.replaceChildren(...parts);
}

function settingsOf(kind) {
  const num = (id) => Number($(id).value);
  const unets = model.decoder.unets.map((u) => u.number);
  const usesPrior = kind !== 'variation' && model.prior;
  return {
    seed: $(`${kind}-random-seed`).checked ? null : num(`${kind}-seed`),
    steps: { ...(usesPrior ? { prior: num(`${kind}-prior-steps`) } : {}), decoder: unets.map((n) => num(`${kind}-decoder-steps-${n}`)) },
    condScale: { ...(usesPrior ? { prior: num(`${kind}-prior-cond`) } : {}), decoder: unets.map((n) => num(`${kind}-cond-${n}`)) },
  };
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = !message;
}

const painter = new MaskPainter($('inpaint-image'), $('inpaint-overlay'), $('inpaint-brush'));

async function body(kind) {
  const base = { kind, samples: Number($(`${kind}-samples`).value), ...settingsOf(kind) };
  if (kind === 'dream') return { ...base, prompts: $('dream-prompts').value.split('\n').map((l) => l.trim()).filter(Boolean) };
  if (kind === 'variation') {
    const file = $('variation-file').files[0];
    if (!file) throw new Error('choose an image first');
    const text = $('variation-text').value.trim();
    return { ...base, image: await fileDataUrl(file), ...(text ? { text } : {}) };
  }
  if (!painter.painted) throw new Error('paint the area to regenerate on the image first');
  return { ...base, image: painter.imageDataUrl(), mask: painter.maskDataUrl(), prompt: $('inpaint-prompt').value };
}

async function submit(kind) {
  showError('');
  let payload;
  try {
    payload = await body(kind);
  } catch (e) {
    return showError(e.message);
  }
  const r = await fetch('/api/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  const answer = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) return showError(answer.error ?? `HTTP ${r.status}`);
  showJob(answer, $('jobs'));
}

function selectTab(kind) {
  for (const b of document.querySelectorAll('#tabs button')) b.setAttribute('aria-selected', String(b.dataset.tab === kind));
  for (const f of document.querySelectorAll('.tab-panel')) f.hidden = f.dataset.kind !== kind;
}

async function main() {
  model = await (await fetch('/api/model')).json();
  const unets = model.decoder.unets.map((u) => `${u.imageSize}px`).join(' -> ');
  $('model-line').textContent = `model ${model.digest}: ${model.prior ? 'prior + ' : ''}decoder (${unets}); ${model.adapter.split(' (')[0]}`;
  for (const kind of ['dream', 'variation', 'inpaint']) {
    buildSettings(kind);
    $(`${kind}-form`).addEventListener('submit', (e) => {
      e.preventDefault();
      submit(kind);
    });
  }
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => selectTab(b.dataset.tab));
  $('variation-file').addEventListener('change', () => $('variation-file').files[0] && drawCropped($('variation-file').files[0], $('variation-canvas')));
  $('inpaint-file').addEventListener('change', () => $('inpaint-file').files[0] && painter.load($('inpaint-file').files[0]));
  $('inpaint-clear').addEventListener('click', () => painter.clear());
  await loadHistory($('jobs'));
  document.body.dataset.ready = 'true';
}

main().catch((e) => showError(`cannot start: ${e.message}`));
