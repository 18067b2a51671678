// Video detail: click a scene or segment to play just that part; while the
// video is still in the pipeline, poll its status and reload when it is done
// so the scenes and segments appear.
import { confirmForms, fill, FINAL } from "./common.js";

confirmForms();
const player = document.getElementById("player");
let stopAt = null;

for (const row of document.querySelectorAll("tr.seekable")) {
  row.addEventListener("click", (event) => {
    if (!player || event.target.closest("audio, a, button")) return;
    player.currentTime = parseFloat(row.dataset.start);
    stopAt = parseFloat(row.dataset.end);
    document.querySelectorAll("tr.playing").forEach((r) => r.classList.remove("playing"));
    row.classList.add("playing");
    player.play();
  });
}
player?.addEventListener("timeupdate", () => {
  if (stopAt !== null && player.currentTime >= stopAt) {
    player.pause();
    stopAt = null;
  }
});

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
