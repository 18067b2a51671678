// Valence-arousal pad: x = valence, y = arousal, both in [-1, 1].
// Click or drag with the mouse; the arrow keys are handled by the page.

const clamp = (v) => Math.max(-1, Math.min(1, v));
const round2 = (v) => Math.round(v * 100) / 100;

export class VAPad {
  constructor({ pad, dot, ghost, valenceOut, arousalOut, onChange }) {
    Object.assign(this, { pad, dot, ghost, valenceOut, arousalOut, onChange });
    this.valence = 0;
    this.arousal = 0;
    let dragging = false;
    const fromEvent = (event) => {
      const r = pad.getBoundingClientRect();
      this.set(((event.clientX - r.left) / r.width) * 2 - 1, 1 - ((event.clientY - r.top) / r.height) * 2, true);
    };
    pad.addEventListener("pointerdown", (e) => { dragging = true; pad.setPointerCapture(e.pointerId); fromEvent(e); });
    pad.addEventListener("pointermove", (e) => { if (dragging) fromEvent(e); });
    pad.addEventListener("pointerup", () => { dragging = false; });
    pad.addEventListener("pointercancel", () => { dragging = false; });
  }

  set(valence, arousal, byUser = false) {
    this.valence = round2(clamp(valence));
    this.arousal = round2(clamp(arousal));
    this.dot.style.left = `${(this.valence + 1) * 50}%`;
    this.dot.style.top = `${(1 - this.arousal) * 50}%`;
    this.valenceOut.textContent = this.valence.toFixed(2);
    this.arousalOut.textContent = this.arousal.toFixed(2);
    if (byUser && this.onChange) this.onChange();
  }

  move(dv, da) { this.set(this.valence + dv, this.arousal + da, true); }

  showGhost(point) {
    this.ghost.hidden = !point;
    if (point) {
      this.ghost.style.left = `${(clamp(point.valence) + 1) * 50}%`;
      this.ghost.style.top = `${(1 - clamp(point.arousal)) * 50}%`;
    }
  }
}

// The arrow keys move the point by 0.1 (Shift: 0.25), on every page with a pad.
const PAD_STEP = 0.1, PAD_BIG_STEP = 0.25;
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };

// Returns true when the key was an arrow (and the point moved).
export function movePadWithKey(pad, event) {
  const direction = ARROWS[event.key];
  if (!direction) return false;
  const step = event.shiftKey ? PAD_BIG_STEP : PAD_STEP;
  pad.move(direction[0] * step, direction[1] * step);
  return true;
}

// Keys typed into a form field belong to the field, not to the page's shortcuts.
export function isTyping(event) {
  return Boolean(event.target.closest && event.target.closest("input, textarea, select"));
}
