// The waveform of an audio-only segment, drawn from the audio itself (Web
// Audio decode in the browser, no server work), with a playhead. Large files
// (a whole video's soundtrack) are not fetched: the label then stays alone.

const MAX_BYTES = 8 * 1024 * 1024;
const RATE = 8000; // decoded at a low rate: enough for an envelope, little memory
const cache = new Map(); // url -> Promise<Float32Array | null>

// [min, max] of each of `columns` equal slices of samples[from, to).
export function peaks(samples, columns, from = 0, to = samples.length) {
  const out = [];
  const span = Math.max(1, to - from);
  for (let c = 0; c < columns; c++) {
    const a = from + Math.floor((c * span) / columns), b = Math.max(a + 1, from + Math.floor(((c + 1) * span) / columns));
    let lo = 0, hi = 0;
    for (let i = a; i < Math.min(b, to); i++) { const v = samples[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
    out.push([lo, hi]);
  }
  return out;
}

async function decode(url) {
  const stop = new AbortController();
  const response = await fetch(url, { credentials: "same-origin", signal: stop.signal });
  const size = Number(response.headers.get("Content-Length") || 0);
  if (!response.ok || size > MAX_BYTES) { stop.abort(); return null; }
  const audio = await new OfflineAudioContext(1, 1, RATE).decodeAudioData(await response.arrayBuffer());
  return { samples: audio.getChannelData(0), rate: audio.sampleRate };
}

export class Waveform {
  constructor(container) {
    this.container = container;
    this.canvas = null;
    this.head = null;
    this.current = null;
  }

  _ensureCanvas() {
    if (this.canvas) return;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "waveform";
    this.canvas.setAttribute("aria-label", "waveform of the segment's audio");
    this.head = document.createElement("div");
    this.head.className = "waveform-head";
    const wrap = document.createElement("div");
    wrap.className = "waveform-wrap";
    wrap.append(this.canvas, this.head);
    this.container.append(wrap);
  }

  show(media) {
    this.current = media && media.url ? media : null;
    if (!this.current) { if (this.canvas) { this.canvas.hidden = true; this.head.hidden = true; } return; }
    this._ensureCanvas();
    this.canvas.hidden = true;
    this.head.hidden = true;
    if (!cache.has(media.url)) cache.set(media.url, decode(media.url).catch(() => null));
    cache.get(media.url).then((decoded) => {
      if (decoded && this.current === media) this._draw(decoded, media);
    });
  }

  _draw({ samples, rate }, media) {
    const canvas = this.canvas;
    const width = Math.max(100, Math.round(canvas.clientWidth || this.container.clientWidth || 600));
    const height = 120;
    canvas.width = width; canvas.height = height;
    const from = Math.max(0, Math.floor(media.loop_start * rate));
    const to = Math.min(samples.length, Math.ceil(media.loop_end * rate));
    const columns = peaks(samples, width, from, to);
    const loudest = Math.max(1e-4, ...columns.map(([lo, hi]) => Math.max(-lo, hi)));
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    ctx.fillStyle = "#7fa8ff";
    columns.forEach(([lo, hi], x) => {
      const top = height / 2 - (hi / loudest) * (height / 2 - 2), bottom = height / 2 - (lo / loudest) * (height / 2 - 2);
      ctx.fillRect(x, top, 1, Math.max(1, bottom - top));
    });
    canvas.hidden = false;
    canvas.dataset.drawn = String(columns.length);
    this.head.hidden = false;
  }

  playhead(fraction) {
    if (this.head && !this.head.hidden) this.head.style.left = `${(fraction * 100).toFixed(2)}%`;
  }
}
