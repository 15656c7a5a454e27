// Input images on canvases: a center-cropped square preview (Variation) and a paintable mask (Inpaint).
// The mask canvas is kept apart from what is shown: red = keep the pixel, black = regenerate (what the
// API reads: red >= 128 keeps).

const MAX_SIDE = 512; // inputs are sent at most this large (the models work at 64-256 px)

/** Draws a file's center square on `canvas` (resized to at most MAX_SIDE); resolves to the side used. */
export async function drawCropped(file, canvas) {
  const bitmap = await createImageBitmap(file);
  const side = Math.min(bitmap.width, bitmap.height);
  const size = Math.min(side, MAX_SIDE);
  canvas.width = size;
  canvas.height = size;
  canvas.getContext('2d').drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, size, size);
  bitmap.close();
  return size;
}

export class MaskPainter {
  constructor(imageCanvas, overlay, brush) {
    this.image = imageCanvas;
    this.overlay = overlay;
    this.brush = brush;
    this.mask = document.createElement('canvas');
    this.painted = false;
    overlay.addEventListener('pointerdown', (e) => {
      overlay.setPointerCapture(e.pointerId);
      this.paint(e);
    });
    overlay.addEventListener('pointermove', (e) => {
      if (e.buttons & 1) this.paint(e);
    });
  }

  /** Shows a new image and clears the mask. */
  async load(file) {
    const size = await drawCropped(file, this.image);
    this.overlay.width = size;
    this.overlay.height = size;
    this.mask.width = size;
    this.mask.height = size;
    this.clear();
    this.overlay.dataset.ready = 'true';
  }

  clear() {
    const m = this.mask.getContext('2d');
    m.fillStyle = '#ff0000';
    m.fillRect(0, 0, this.mask.width, this.mask.height);
    this.overlay.getContext('2d').clearRect(0, 0, this.overlay.width, this.overlay.height);
    this.painted = false;
  }

  paint(e) {
    if (!this.mask.width) return;
    const box = this.overlay.getBoundingClientRect();
    const scale = this.overlay.width / box.width;
    const x = (e.clientX - box.left) * scale;
    const y = (e.clientY - box.top) * scale;
    const r = Number(this.brush.value) * scale;
    for (const [ctx, style] of [[this.mask.getContext('2d'), '#000000'], [this.overlay.getContext('2d'), 'rgba(255, 0, 200, 0.5)']]) {
      ctx.fillStyle = style;
      ctx.beginPath();
      ctx.arc(x, y, r, 0, Math.PI * 2);
      ctx.fill();
    }
    this.painted = true;
  }

  imageDataUrl() {
    return this.image.toDataURL('image/png');
  }

  maskDataUrl() {
    return this.mask.toDataURL('image/png');
  }
}

/** A file as a data: URL (uploads travel as base64 in the JSON body). */
export function fileDataUrl(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}
