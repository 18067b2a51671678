// The annotation workspace: keyboard first. One queue item is on screen while
// the next one is already reserved and buffering, so Enter shows it at once.

import { api, ApiError } from "./api.js";
import { Player } from "./player.js";
import { isTyping, movePadWithKey, VAPad } from "./vapad.js";

const config = JSON.parse(document.getElementById("annotate-config").textContent);
const $ = (id) => document.getElementById(id);
const root = $("annotate");
const FLAG_BY_KEY = Object.fromEntries(config.flags.map((f) => [f.key, f.name]));

const player = new Player({ container: $("players"), facebox: $("facebox"), audioOnly: $("audio-only"),
                            playHint: $("play-hint"), loopFill: $("loopbar-fill") });
const pad = new VAPad({ pad: $("vapad"), dot: $("vapad-dot"), ghost: $("vapad-ghost"),
                        valenceOut: $("va-v"), arousalOut: $("va-a"), onChange: () => {} });

const state = {
  item: null,        // what is on screen: { assignmentId, segment, label, mode: "queue" | "edit", form }
  stash: null,       // the queue item put aside while editing an earlier label (U)
  nextPromise: null, // the preloaded next assignment (or null when none is left)
  backOffset: 0,     // how far back U has gone
  category: null,
  flags: new Set(),
  busy: false,
  doneToday: config.doneToday,
  sessionSeconds: [], // time spent on each new label made since the page opened
  shownAt: performance.now(),
  spentMs: 0,        // visible time on the current item before the last tab switch
};

// --- time spent: only while the tab is visible ---------------------------------
function elapsedSeconds() {
  const running = document.visibilityState === "visible" ? performance.now() - state.shownAt : 0;
  return Math.round(state.spentMs + running) / 1000;  // ms precision: fast keyboard labels are not 0
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") state.spentMs += performance.now() - state.shownAt;
  else state.shownAt = performance.now();
});

// --- rendering --------------------------------------------------------------------
function message(text, kind = "info") {
  const el = $("message");
  el.textContent = text;
  el.className = `message ${kind}`;
}

function renderCategory() {
  for (const button of $("categories").querySelectorAll("button")) {
    button.classList.toggle("selected", button.dataset.category === state.category);
    button.setAttribute("aria-pressed", String(button.dataset.category === state.category));
  }
}

function renderFlags() {
  for (const button of $("flags").querySelectorAll("button")) {
    const on = state.flags.has(button.dataset.flag);
    button.classList.toggle("selected", on);
    button.setAttribute("aria-pressed", String(on));
  }
}

function itemFromAssignment(a) {
  return { assignmentId: a.id, expiresAt: a.expires_at, segment: a.segment, label: a.label, mode: "queue", form: null };
}

function itemFromRecent(r) {
  return { assignmentId: r.assignment, segment: r.segment, label: r.label, mode: "edit", form: null };
}

function show(item) {
  state.item = item;
  const { segment, label } = item;
  const prelabel = segment.prelabel;
  root.dataset.segment = String(segment.id);
  root.dataset.mode = item.mode;
  root.dataset.state = "ready";
  $("empty").hidden = true;
  $("mode-badge").hidden = item.mode !== "edit";
  $("seg-meta").textContent = `segment #${segment.id} · ${segment.video_title || "video " + segment.video} · `
    + `${segment.start.toFixed(1)}–${segment.end.toFixed(1)} s`;
  $("audio-only-why").textContent = segment.media.kind === "audio"
    ? (segment.box ? "" : " – the speaker is off screen") : "";

  const crops = $("crops");
  crops.replaceChildren(...segment.media.face_crops.slice(0, 6).map((url) => {
    const img = document.createElement("img");
    img.src = url; img.alt = "face crop"; img.width = 56; img.height = 56;
    return img;
  }));

  for (const button of $("categories").querySelectorAll("button")) {
    const conf = button.querySelector(".conf");
    const isSuggested = prelabel && button.dataset.category === prelabel.category;
    button.classList.toggle("suggested", Boolean(isSuggested));
    conf.textContent = prelabel ? ` ${Math.round(prelabel.probs[config.categories.indexOf(button.dataset.category)] * 100)}%` : "";
  }
  $("prelabel").hidden = !prelabel;
  if (prelabel) {
    $("prelabel-cat").textContent = prelabel.category;
    $("prelabel-conf").textContent = `${Math.round(prelabel.confidence * 100)}%`;
    $("prelabel-model").textContent = prelabel.model;
  }

  const form = item.form || {
    category: label?.category ?? prelabel?.category ?? null,
    valence: label?.valence ?? prelabel?.valence ?? 0,
    arousal: label?.arousal ?? prelabel?.arousal ?? 0,
    flags: label?.flags ?? [],
    spentMs: 0,
  };
  state.category = form.category;
  state.flags = new Set(form.flags);
  pad.set(form.valence, form.arousal);
  pad.showGhost(prelabel);
  renderCategory();
  renderFlags();
  state.spentMs = form.spentMs;
  state.shownAt = performance.now();
  player.show(segment.media, segment.box, segment.track);
}

function keepForm(item) {
  item.form = { category: state.category, valence: pad.valence, arousal: pad.arousal,
                flags: [...state.flags], spentMs: elapsedSeconds() * 1000 };
}

function preloadNext() {
  const current = state.stash || state.item;
  const exclude = current && current.mode === "queue" ? [current.assignmentId] : [];
  state.nextPromise = api.next(exclude).then((a) => {
    if (a) {
      player.preload(a.segment.media);
      for (const url of a.segment.media.face_crops.slice(0, 6)) new Image().src = url;
    }
    return a;
  }).catch(() => null);
}

// --- progress: "N left for you · M segments still need labels" ----------------------
let progressRequest = null;
function refreshProgress() {
  if (!progressRequest) {  // one at a time: a burst of saves asks once
    progressRequest = api.progress().then((p) => {
      $("left-for-you").textContent = String(p.left_for_you);
      $("still-needed").textContent = String(p.still_needed);
      $("session-needed").textContent = String(p.still_needed);
      $("progress").hidden = false;
      return p;
    }).catch(() => null).finally(() => { progressRequest = null; });
  }
  return progressRequest;
}

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b), mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// The end of the queue: the session's summary replaces the player and the form.
function showEmpty() {
  state.item = null;
  root.dataset.state = "empty";
  root.dataset.segment = "";
  root.dataset.mode = "queue";
  $("mode-badge").hidden = true;
  player.show({ kind: "video", url: null, face_crops: [] }, null);
  const m = median(state.sessionSeconds);
  $("session-labels").textContent = String(state.sessionSeconds.length);
  $("session-median").textContent = m === null ? "–" : m.toFixed(1);
  $("session-today").textContent = String(state.doneToday);
  $("empty").hidden = false;
  window.scrollTo(0, 0);
  $("empty").focus({ preventScroll: true });
  refreshProgress();
}

async function advance() {
  // The preloaded assignment, unless it expired meanwhile; then ask again.
  let next = state.nextPromise ? await state.nextPromise : null;
  if (!next || new Date(next.expires_at) <= new Date()) next = await api.next([]);
  if (!next) { showEmpty(); state.nextPromise = null; return; }
  show(itemFromAssignment(next));
  preloadNext();
}

// --- actions -------------------------------------------------------------------------
async function guarded(action) {
  if (state.busy) return;
  state.busy = true;
  root.dataset.busy = "1";
  try { await action(); }
  catch (error) { message(error instanceof ApiError ? error.message : String(error), "error"); }
  finally { state.busy = false; root.dataset.busy = ""; }
}

function submit() {
  return guarded(async () => {
    const item = state.item;
    if (!item) return;
    if (!state.category) { message("Choose a category first (keys 1–7).", "error"); return; }
    const payload = { category: state.category, valence: pad.valence, arousal: pad.arousal,
                      flags: [...state.flags], seconds_spent: elapsedSeconds() };
    if (item.mode === "queue") payload.assignment = item.assignmentId; else payload.segment = item.segment.id;
    let saved;
    try {
      saved = await api.save(payload);
    } catch (error) {
      if (item.mode === "queue" && error.status === 400 && error.body && error.body.assignment) {
        message(`${error.message} Moving on.`, "error"); // expired or skipped: this place is gone
        await advance();
        return;
      }
      throw error;
    }
    if (saved.created) { state.doneToday += 1; state.sessionSeconds.push(payload.seconds_spent); }
    refreshProgress();
    $("done-today").textContent = String(state.doneToday);
    message(`Saved #${item.segment.id}: ${saved.category} (V ${saved.valence.toFixed(2)}, A ${saved.arousal.toFixed(2)})`
      + (saved.changed ? "" : " – unchanged"), "ok");
    if (item.mode === "edit") { await returnToQueue(); return; }
    await advance();
  });
}

function skip() {
  return guarded(async () => {
    const item = state.item;
    if (!item) return;
    if (item.mode === "edit") { message("Earlier labels cannot be skipped; Esc goes back.", "error"); return; }
    await api.skip(item.assignmentId);
    refreshProgress();
    message(`Skipped #${item.segment.id}.`);
    await advance();
  });
}

function back() {
  return guarded(async () => {
    const offset = state.item && state.item.mode === "edit" ? state.backOffset + 1 : 0;
    const recent = await api.recent(offset);
    if (!recent || !recent.length) { message(offset ? "No earlier label." : "You have no labels yet."); return; }
    if (state.item && state.item.mode === "queue") { keepForm(state.item); state.stash = state.item; }
    state.backOffset = offset;
    show(itemFromRecent(recent[0]));
    message(`Editing your label of #${recent[0].segment.id} (U: further back, Esc: return).`);
  });
}

// Leave the earlier label and return to the queue item that was put aside.
async function returnToQueue() {
  state.backOffset = 0;
  const stash = state.stash;
  state.stash = null;
  if (stash) show(stash); else await advance();
}

function chooseCategory(index) {
  state.category = config.categories[index];
  renderCategory();
}

function toggleFlag(name) {
  if (state.flags.has(name)) state.flags.delete(name); else state.flags.add(name);
  renderFlags();
}

function toggleHelp(force) {
  const help = $("help");
  help.hidden = force === undefined ? !help.hidden : !force;
}

// --- keyboard --------------------------------------------------------------------------
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (isTyping(event)) return;
  const key = event.key;
  if (key === "?") { toggleHelp(); event.preventDefault(); return; }
  if (!$("help").hidden) { if (key === "Escape") toggleHelp(false); return; }
  if (!state.item && key !== "u" && key !== "U") return;
  if (movePadWithKey(pad, event)) { event.preventDefault(); return; }
  if (/^[1-7]$/.test(key)) { chooseCategory(Number(key) - 1); event.preventDefault(); return; }
  const lower = key.length === 1 ? key.toLowerCase() : key;
  if (FLAG_BY_KEY[lower]) { toggleFlag(FLAG_BY_KEY[lower]); event.preventDefault(); return; }
  switch (lower) {
    case "Enter": submit(); break;
    case "s": skip(); break;
    case "u": back(); break;
    case "Escape": if (state.item && state.item.mode === "edit") guarded(returnToQueue); break;
    case " ": player.toggle(); break;
    case "r": player.restart(); break;
    default: return;
  }
  event.preventDefault();
});

// --- mouse -----------------------------------------------------------------------------
$("categories").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-category]");
  if (button) { chooseCategory(config.categories.indexOf(button.dataset.category)); button.blur(); }
});
$("flags").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-flag]");
  if (button) { toggleFlag(button.dataset.flag); button.blur(); }
});
$("submit").addEventListener("click", (e) => { e.currentTarget.blur(); submit(); });
$("skip").addEventListener("click", (e) => { e.currentTarget.blur(); skip(); });
$("back").addEventListener("click", (e) => { e.currentTarget.blur(); back(); });
$("help-button").addEventListener("click", (e) => { e.currentTarget.blur(); toggleHelp(); });
$("help-close").addEventListener("click", () => toggleHelp(false));
$("retry").addEventListener("click", () => guarded(advance));
$("empty-back").addEventListener("click", () => back());

// --- start -----------------------------------------------------------------------------
guarded(async () => {
  const first = await api.next([]);
  if (!first) { showEmpty(); return; }
  state.doneToday = first.done_today;
  $("done-today").textContent = String(state.doneToday);
  refreshProgress();
  show(itemFromAssignment(first));
  preloadNext();
});
