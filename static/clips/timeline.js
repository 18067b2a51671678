// The video's timeline under the player: one lane per person / face identity
// (its face tracks as thin bars, its segments as blocks), one lane for
// off-screen speech, and the scene cuts. Segments are coloured by the model's
// prelabel or by the reviewer's final label; clicking one plays it.

export const CATEGORY_COLOURS = {
  angry: "#d64541", disgust: "#5f8f2f", fear: "#8e44ad", happy: "#e6b800",
  sad: "#2f80d1", surprise: "#e67e22", neutral: "#8a9aa5",
};

const percent = (t, duration) => `${((100 * t) / duration).toFixed(3)}%`;

function el(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function lane(name, className = "") {
  const row = el("div", `tl-lane ${className}`.trim());
  row.dataset.lane = name;
  const area = el("div", "tl-area");
  area.append(el("div", "tl-playhead"));
  row.append(el("span", "tl-name", name), area);
  return [row, area];
}

function place(node, start, end, duration) {
  node.style.left = percent(start, duration);
  node.style.width = `max(3px, ${percent(Math.max(0, end - start), duration)})`;
}

export function drawTimeline(container, data, { colourBy = "prelabel", onPlay }) {
  const duration = data.duration || Math.max(1, ...data.segments.map((s) => s.end));
  const areas = new Map();
  const rows = [];
  for (const name of data.lanes) {
    const [row, area] = lane(name, name === "off-screen" ? "tl-offscreen" : "");
    areas.set(name, area);
    rows.push(row);
  }
  for (const track of data.tracks) {
    const bar = el("div", "tl-track");
    bar.title = `${track.lane}: on screen ${track.start.toFixed(1)}–${track.end.toFixed(1)} s`;
    place(bar, track.start, track.end, duration);
    areas.get(track.lane)?.append(bar);
  }
  for (const seg of data.segments) {
    const category = colourBy === "final" ? seg.final : seg.prelabel;
    const block = el("button", "tl-seg");
    block.type = "button";
    block.dataset.id = String(seg.id);
    block.dataset.category = category || "";
    if (seg.final) block.classList.add("tl-final");
    const what = [seg.prelabel && `prelabel ${seg.prelabel}`, seg.final && `final ${seg.final}`].filter(Boolean).join(", ");
    block.title = `#${seg.id} ${seg.start.toFixed(2)}–${seg.end.toFixed(2)} s${what ? ` · ${what}` : ""}`;
    block.setAttribute("aria-label", `play segment ${seg.id}, ${block.title}`);
    block.style.background = CATEGORY_COLOURS[category] || "#c9cede";
    place(block, seg.start, seg.end, duration);
    block.addEventListener("click", () => onPlay(seg));
    areas.get(seg.lane)?.append(block);
  }
  const [cutsRow, cutsArea] = lane("scene cuts", "tl-cuts");
  for (const t of data.cuts) {
    const cut = el("div", "tl-cut");
    cut.style.left = percent(t, duration);
    cut.title = `cut at ${t.toFixed(2)} s`;
    cutsArea.append(cut);
  }
  const legend = el("div", "tl-legend");
  for (const [name, colour] of Object.entries(CATEGORY_COLOURS)) {
    const key = el("span", "tl-key", name);
    key.style.setProperty("--swatch", colour);
    legend.append(key);
  }
  container.replaceChildren(...rows, cutsRow, legend);
}
