// Exports page: poll the API while an export is queued or running, update its row,
// and reload once it finishes (so counts, size and the download link appear).
const table = document.getElementById("exports-table");
const LIVE = new Set(["queued", "running"]);

function liveRows() {
  if (!table || !table.dataset.api) return [];
  return [...table.querySelectorAll("tr[data-id]")].filter((row) => LIVE.has(row.dataset.status));
}

async function poll() {
  const rows = liveRows();
  if (!rows.length) return;
  let finished = false;
  for (const row of rows) {
    try {
      const response = await fetch(`${table.dataset.api}${row.dataset.id}/`, { credentials: "same-origin" });
      if (!response.ok) continue;
      const data = await response.json();
      row.querySelector("progress").value = data.progress;
      row.querySelector(".status-text").textContent =
        data.status === "running" ? `running ${data.progress}%` : data.status;
      row.querySelector(".export-error").textContent = data.error || "";
      if (!LIVE.has(data.status)) finished = true;
    } catch (err) {
      // network hiccup: try again on the next tick
    }
  }
  if (finished) window.location.reload();
  else setTimeout(poll, 1500);
}

poll();
