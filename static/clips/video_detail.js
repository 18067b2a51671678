// Video detail: click a scene or segment to play just that part; the speaking
// face of the segment under the playhead is boxed over the video; while the
// video is still in the pipeline, poll its status and reload when it is done
// so the scenes and segments appear.
import { confirmForms, fill, FINAL } from "./common.js";
import { placeBox, validBox } from "./facebox.js";

confirmForms();
const player = document.getElementById("player");
let stopAt = null;
let selected = null; // the segment of the clicked row

const boxData = document.getElementById("segment-boxes");
const segments = boxData ? JSON.parse(boxData.textContent) : [];
const byId = new Map(segments.map((s) => [String(s.id), s]));

for (const row of document.querySelectorAll("tr.seekable")) {
  row.addEventListener("click", (event) => {
    if (!player || event.target.closest("audio, a, button")) return;
    selected = byId.get(row.dataset.id) || null;
    player.currentTime = parseFloat(row.dataset.start);
    stopAt = parseFloat(row.dataset.end);
    document.querySelectorAll("tr.playing").forEach((r) => r.classList.remove("playing"));
    row.classList.add("playing");
    drawFacebox();
    player.play().catch(() => {}); // a blocked autoplay still leaves the frame and box shown
  });
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
  const covers = (s, slack = 0) => validBox(s.box) && s.start <= t && t < s.end + slack;
  if (selected && covers(selected, STOP_SLACK)) return selected;
  return segments.find((s) => covers(s)) || null;
}

function drawFacebox() {
  if (!facebox || !player) return;
  const seg = segmentAt(player.currentTime);
  const rect = seg && placeBox(player, seg.box, Number(stage.dataset.sourceWidth), Number(stage.dataset.sourceHeight));
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

if (player && facebox && segments.some((s) => validBox(s.box))) {
  for (const name of ["loadedmetadata", "seeked", "seeking", "timeupdate", "pause", "play"]) {
    player.addEventListener(name, drawFacebox);
  }
  new ResizeObserver(drawFacebox).observe(player);
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
