// Live progress of one training run: polls the run's JSON and redraws the
// learning curve (train/val loss on the left axis, val UAR 0-1 on the right).
const root = document.getElementById("run");
const canvas = document.getElementById("run-chart");
const POLL_MS = 1500;

function fmt(v) { return v === null || v === undefined ? "-" : Number(v).toFixed(3); }

export function drawChart(canvas, history, bestEpoch) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = { l: 48, r: 44, t: 12, b: 30 };
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#667";
  if (!history.length) { ctx.fillText("waiting for the first epoch...", pad.l, H / 2); return; }
  const epochs = Math.max(history[history.length - 1].epochs || history.length, history.length);
  const losses = history.flatMap((e) => [e.train_loss, e.val_loss]).filter((v) => Number.isFinite(v));
  const maxLoss = Math.max(...losses, 1e-6) * 1.05;
  const x = (ep) => pad.l + ((ep - 1) / Math.max(epochs - 1, 1)) * (W - pad.l - pad.r);
  const yLoss = (v) => H - pad.b - (v / maxLoss) * (H - pad.t - pad.b);
  const yUar = (v) => H - pad.b - v * (H - pad.t - pad.b);
  // axes and grid
  ctx.strokeStyle = "#e4e4ee";
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (i / 4) * (H - pad.t - pad.b);
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(W - pad.r, y); ctx.stroke();
    ctx.fillText((maxLoss * (1 - i / 4)).toFixed(2), 4, y + 4);
    ctx.fillText((1 - i / 4).toFixed(2), W - pad.r + 6, y + 4);
  }
  const step = Math.max(1, Math.ceil(epochs / 10));
  for (let ep = 1; ep <= epochs; ep += step) ctx.fillText(String(ep), x(ep) - 3, H - pad.b + 16);
  ctx.fillText("epoch", W / 2 - 14, H - 2);
  if (bestEpoch) {
    ctx.strokeStyle = "#bbb"; ctx.setLineDash([4, 4]);
    ctx.beginPath(); ctx.moveTo(x(bestEpoch), pad.t); ctx.lineTo(x(bestEpoch), H - pad.b); ctx.stroke();
    ctx.setLineDash([]);
  }
  const line = (key, y, colour) => {
    ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = 2; ctx.beginPath();
    history.forEach((e, i) => {
      const v = e[key]; if (!Number.isFinite(v)) return;
      i === 0 ? ctx.moveTo(x(e.epoch), y(v)) : ctx.lineTo(x(e.epoch), y(v));
    });
    ctx.stroke();
    history.forEach((e) => { if (Number.isFinite(e[key])) { ctx.beginPath(); ctx.arc(x(e.epoch), y(e[key]), 2.5, 0, 7); ctx.fill(); } });
    ctx.lineWidth = 1;
  };
  line("train_loss", yLoss, "#3454d1");
  line("val_loss", yLoss, "#e67e22");
  line("val_uar", yUar, "#1e8449");
}

function renderTable(history, bestEpoch) {
  const body = document.querySelector("#epoch-table tbody");
  if (!body) return;
  body.replaceChildren(...history.map((e) => {
    const tr = document.createElement("tr");
    if (e.epoch === bestEpoch) tr.className = "best";
    const cells = [e.epoch, fmt(e.train_loss), fmt(e.train_kl), fmt(e.train_ce), fmt(e.train_ccc), fmt(e.val_loss),
      fmt(e.val_uar), e.segments_per_second ? Math.round(e.segments_per_second) : "-", (e.seconds || 0).toFixed(1)];
    cells.forEach((c) => { const td = document.createElement("td"); td.textContent = c; tr.append(td); });
    return tr;
  }));
}

function render(run) {
  const history = run.history || [];
  const last = history[history.length - 1];
  const best = last ? last.best_epoch : (run.metrics || {}).best_epoch;
  const status = document.getElementById("run-status");
  status.textContent = run.status + (run.cancel_requested && run.status === "running" ? " (cancelling)" : "");
  status.className = "status-" + run.status;
  document.getElementById("run-progress").value = run.progress;
  document.getElementById("run-epoch").textContent = last
    ? `epoch ${last.epoch} / ${last.epochs} · val UAR ${fmt(last.val_uar)} (best ${fmt(last.best_val_uar)} at ${last.best_epoch})` : "";
  const err = document.getElementById("run-error");
  err.hidden = !run.error; err.textContent = run.error || "";
  drawChart(canvas, history, best);
  renderTable(history, best);
}

async function poll() {
  try {
    const res = await fetch(root.dataset.api, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const run = await res.json();
    render(run);
    if (run.status === "queued" || run.status === "running") setTimeout(poll, POLL_MS);
    else if (root.dataset.live === "1") window.location.reload(); // finished: show the server-rendered figures
  } catch (e) {
    document.getElementById("run-error").hidden = false;
    document.getElementById("run-error").textContent = `Lost contact with the server (${e.message}); retrying...`;
    setTimeout(poll, POLL_MS * 3);
  }
}

if (root && canvas) poll();
