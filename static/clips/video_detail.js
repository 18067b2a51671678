// Video detail: click a scene, a segment row or a segment on the timeline to
// play just that part; the speaking face of the segment under the playhead is
// boxed over the video, following its face track; while the video is still in
// the pipeline, poll its status and reload when it is done so the scenes and
// segments appear.
import { confirmForms, fill, FINAL } from "./common.js";
import { boxAt, placeBox, validBox } from "./facebox.js";
import { drawTimeline } from "./timeline.js";

confirmForms();
const player = document.getElementById("player");
let stopAt = null;
let selected = null; // the segment clicked

const data = JSON.parse(document.getElementById("video-timeline").textContent);
const segments = data.segments;
const byId = new Map(segments.map((s) => [String(s.id), s]));
const trackBoxes = new Map(data.tracks.map((t) => [t.id, t.boxes]));

function markPlaying(id) {
  document.querySelectorAll(".playing").forEach((el) => el.classList.remove("playing"));
  if (id === null) return;
  document.querySelectorAll(`tr.segment[data-id="${id}"], .tl-seg[data-id="${id}"]`)
    .forEach((el) => el.classList.add("playing"));
}

function playRange(start, end, segment) {
  if (!player) return;
  selected = segment;
  player.currentTime = start;
  stopAt = end;
  markPlaying(segment ? segment.id : null);
  drawFacebox();
  player.play().catch(() => {}); // a blocked autoplay still leaves the frame and box shown
}

for (const row of document.querySelectorAll("tr.seekable")) {
  row.addEventListener("click", (event) => {
    if (event.target.closest("audio, a, button")) return;
    playRange(parseFloat(row.dataset.start), parseFloat(row.dataset.end), byId.get(row.dataset.id) || null);
    if (!row.classList.contains("segment")) row.classList.add("playing");
  });
}

const timeline = document.getElementById("timeline");
if (timeline) {
  const colourBy = document.getElementById("timeline-colour");
  const render = () => drawTimeline(timeline, data, { colourBy: colourBy.value, onPlay: (s) => playRange(s.start, s.end, s) });
  render();
  colourBy.addEventListener("change", () => { render(); if (selected) markPlaying(selected.id); });
}

player?.addEventListener("timeupdate", () => {
  if (stopAt !== null && player.currentTime >= stopAt) {
    player.pause();
    stopAt = null;
  }
});

// A stored format the browser cannot decode (MPEG-1 .mpg, ...) says so instead of a blank player.
const playerError = document.getElementById("player-error");
function showPlayerError() {
  if (!playerError || !player?.error) return;
  const name = playerError.dataset.file.split("/").pop();
  playerError.textContent = player.error.code === MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED
    ? `This browser cannot play the stored file (${name}), so the face boxes cannot be drawn over it; `
      + "segments, prelabels and face crops below are unaffected."
    : `The media could not be loaded (${player.error.message || `error ${player.error.code}`}).`;
  playerError.hidden = false;
}
player?.addEventListener("error", showPlayerError);
showPlayerError(); // it may have failed before this module ran

// --- the speaking face's box ----------------------------------------------------
const stage = document.getElementById("player-stage");
const facebox = document.getElementById("facebox");
const STOP_SLACK = 0.3; // the player stops a little after a clicked segment's end: keep its box

function segmentAt(t) {
  const covers = (s, slack = 0) => (validBox(s.box) || trackBoxes.get(s.track)?.length) && s.start <= t && t < s.end + slack;
  if (selected && covers(selected, STOP_SLACK)) return selected;
  return segments.find((s) => covers(s)) || null;
}

function drawFacebox() {
  if (timeline) timeline.style.setProperty("--playhead", `${(100 * (player?.currentTime || 0) / (data.duration || 1)).toFixed(3)}%`);
  if (!facebox || !player) return;
  const seg = segmentAt(player.currentTime);
  // The track's box at this moment (interpolated), else the segment's median box.
  const box = seg && boxAt(trackBoxes.get(seg.track), player.currentTime, seg.box);
  const rect = box && placeBox(player, box, Number(stage.dataset.sourceWidth), Number(stage.dataset.sourceHeight));
  if (!rect) {
    facebox.hidden = true;
    delete facebox.dataset.segment;
    return;
  }
  Object.assign(facebox.style, {
    left: `${rect.left}px`, top: `${rect.top}px`, width: `${rect.width}px`, height: `${rect.height}px`,
  });
  facebox.querySelector(".facebox-label").textContent = seg.label;
  facebox.dataset.segment = seg.id;
  facebox.hidden = false;
}

if (player) {
  for (const name of ["loadedmetadata", "seeked", "seeking", "timeupdate", "pause", "play"]) {
    player.addEventListener(name, drawFacebox);
  }
  if (facebox) new ResizeObserver(drawFacebox).observe(player);
  // Follow the playhead between timeupdate events (about 4 per second).
  const tick = () => { if (!player.paused) drawFacebox(); requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  drawFacebox();
}

// --- live status while the pipeline runs -------------------------------------------
const box = document.getElementById("video-detail");
async function poll() {
  try {
    const res = await fetch(box.dataset.api, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (res.status === 404) return;
    const video = await res.json();
    const before = box.dataset.status;
    fill(box, video);
    if (video.status !== before && (FINAL.has(video.status) || video.stage !== "")) {
      location.reload();
      return;
    }
  } catch (err) {
    console.warn("status poll failed", err);
  }
  setTimeout(poll, 3000);
}
if (box && !FINAL.has(box.dataset.status)) setTimeout(poll, 2000);
