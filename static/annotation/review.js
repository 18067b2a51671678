// Review page: loop the segment like the annotation page does.
const el = document.getElementById("review-player");
if (el) {
  const start = Number(el.dataset.start), end = Number(el.dataset.end);
  el.addEventListener("timeupdate", () => { if (el.currentTime >= end) el.currentTime = start; });
  el.addEventListener("loadedmetadata", () => { el.currentTime = start; }, { once: true });
}
