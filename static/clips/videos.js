// Videos page: live status/progress by polling the videos API for the rows
// still in flight; a row that disappears (a playlist expanded into its
// videos) reloads the page once so the new rows show up.
import { confirmForms, fill, FINAL } from "./common.js";

const table = document.getElementById("videos");
confirmForms();

// Keep the status filter counts ("Ready (3)") true as rows change status.
function moveCount(from, to) {
  if (from === to) return;
  const bump = (status, delta) => {
    const el = document.querySelector(`[data-count-for="${status}"]`);
    if (el) el.textContent = String(Math.max(0, parseInt(el.textContent, 10) + delta));
  };
  bump(from, -1);
  bump(to, +1);
}

async function poll() {
  const rows = [...table.querySelectorAll("tbody tr")].filter((r) => !FINAL.has(r.dataset.status));
  if (!rows.length) return;
  const ids = rows.map((r) => r.dataset.id);
  try {
    const res = await fetch(`${table.dataset.api}?ids=${ids.join(",")}&limit=500`, {
      headers: { Accept: "application/json" }, credentials: "same-origin",
    });
    if (!res.ok) throw new Error(res.status);
    const body = await res.json();
    const byId = new Map((body.results || body).map((v) => [String(v.id), v]));
    let vanished = false;
    for (const row of rows) {
      const video = byId.get(row.dataset.id);
      if (!video) { vanished = true; continue; }
      moveCount(row.dataset.status, video.status);
      fill(row, video);
    }
    if (vanished && !sessionStorage.getItem("videos-reloaded")) {
      sessionStorage.setItem("videos-reloaded", "1");
      setTimeout(() => sessionStorage.removeItem("videos-reloaded"), 5000);
      location.reload();
      return;
    }
  } catch (err) {
    console.warn("progress poll failed", err);
  }
  setTimeout(poll, 2000);
}

if (table) setTimeout(poll, 1000);
