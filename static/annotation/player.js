// Plays one segment in a loop: the source video between start and end (with
// the speaking face's box drawn over it) or an audio clip. A second element is
// kept warm with the next segment so Enter shows it at once.

import { boxAt, placeBox } from "../clips/facebox.js";
import { Waveform } from "./waveform.js";

const FRAME_PAD = 0.04; // loop back slightly before `end` so the next scene never flashes

function makeElement(kind) {
  const el = document.createElement(kind);
  el.preload = "auto";
  el.playsInline = true;
  el.className = "player";
  if (kind === "video") el.disablePictureInPicture = true;
  return el;
}

export class Player {
  constructor({ container, facebox, audioOnly, playHint, loopFill }) {
    Object.assign(this, { container, facebox, audioOnly, playHint, loopFill });
    this.el = null;
    this.media = null;
    this.box = null;
    this.track = null;
    this.waveform = new Waveform(audioOnly);
    this.warm = new Map(); // url+start -> element preloaded for an upcoming segment
    this._tick = this._tick.bind(this);
    new ResizeObserver(() => this.drawBox()).observe(container);
    playHint.addEventListener("click", () => this.toggle());
    requestAnimationFrame(this._tick);
  }

  static key(media) { return `${media.kind}|${media.url}|${media.loop_start}`; }

  // Start buffering a segment that is not shown yet.
  preload(media) {
    if (!media || !media.url) return;
    const key = Player.key(media);
    if (this.warm.has(key)) return;
    const el = makeElement(media.kind);
    el.muted = true;
    el.src = media.url;
    el.addEventListener("loadedmetadata", () => { el.currentTime = media.loop_start; }, { once: true });
    el.load();
    this.warm.set(key, el);
    while (this.warm.size > 3) this.warm.delete(this.warm.keys().next().value);
  }

  // track: the face track's boxes [[t, top, right, bottom, left], ...], so the
  // box follows a moving head; box: the segment's median box when there are none.
  show(media, box, track = null) {
    if (this.el) { this.el.pause(); this.el.remove(); }
    this.media = media;
    this.box = box;
    this.track = track;
    this.facebox.hidden = true;
    this.audioOnly.hidden = media.kind !== "audio";
    this.waveform.show(media.kind === "audio" ? media : null);
    if (!media.url) { this.el = null; return; }
    const key = Player.key(media);
    const el = this.warm.get(key) || makeElement(media.kind);
    this.warm.delete(key);
    if (!el.src) el.src = media.url;
    el.muted = false;
    el.loop = false;
    el.hidden = media.kind === "audio";
    this.container.appendChild(el);
    this.el = el;
    const start = () => {
      if (Math.abs(el.currentTime - media.loop_start) > 0.05) el.currentTime = media.loop_start;
      this.drawBox();
      this.play();
    };
    if (el.readyState >= 1) start(); else el.addEventListener("loadedmetadata", start, { once: true });
    el.addEventListener("error", () => {
      this.audioOnly.hidden = false;
      this.audioOnly.querySelector("small").textContent = "the media could not be played";
    }, { once: true });
  }

  play() {
    if (!this.el) return;
    const promise = this.el.play();
    if (promise) promise.then(() => { this.playHint.hidden = true; })
      .catch(() => { this.playHint.hidden = false; }); // autoplay with sound needs a first key press
  }

  toggle() { if (!this.el) return; if (this.el.paused) this.play(); else this.el.pause(); }

  restart() { if (this.el && this.media) { this.el.currentTime = this.media.loop_start; this.play(); } }

  _tick() {
    const { el, media } = this;
    if (el && media && el.readyState >= 1) {
      const span = Math.max(0.01, media.loop_end - media.loop_start);
      if (el.currentTime >= media.loop_end - FRAME_PAD || el.currentTime < media.loop_start - 0.25 || el.ended) {
        el.currentTime = media.loop_start;
        if (el.ended) this.play();
      }
      const done = Math.min(1, Math.max(0, (el.currentTime - media.loop_start) / span));
      this.loopFill.style.width = `${(done * 100).toFixed(1)}%`;
      if (this.track) this.drawBox();
      this.waveform.playhead(done);
    }
    requestAnimationFrame(this._tick);
  }

  // The box is in source pixels; the video is letterboxed (object-fit: contain).
  drawBox() {
    const { el, media, facebox } = this;
    if (!el || !media || media.kind !== "video") { facebox.hidden = true; return; }
    const rect = placeBox(el, boxAt(this.track, el.currentTime, this.box), media.width, media.height);
    if (!rect) { facebox.hidden = true; return; }
    Object.assign(facebox.style, {
      left: `${rect.left}px`, top: `${rect.top}px`, width: `${rect.width}px`, height: `${rect.height}px`,
    });
    facebox.hidden = false;
  }
}
