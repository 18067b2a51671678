// Shared by the Videos and video detail pages.
export const FINAL = new Set(["ready", "failed"]);

const LABELS = {
  queued: "Queued", downloading: "Downloading", segmenting: "Segmenting",
  prelabelling: "Prelabelling", ready: "Ready", failed: "Failed",
};

// Copy a video's API fields into the [data-field] elements of `root`.
export function fill(root, video) {
  root.dataset.status = video.status;
  for (const el of root.querySelectorAll("[data-field]")) {
    const key = el.dataset.field;
    if (key === "status") {
      el.textContent = LABELS[video.status] || video.status;
      el.className = `badge status-${video.status}`;
    } else if (key === "progress") {
      el.value = video.progress;
      el.textContent = `${video.progress}%`;
    } else if (key === "title") {
      if (video.title) el.textContent = video.title.length > 70 ? `${video.title.slice(0, 69)}…` : video.title;
    } else if (key === "duration") {
      el.textContent = video.duration ? `${video.duration.toFixed(1)} s` : "";
    } else if (key === "notes") {
      el.replaceChildren(...(video.notes || []).map((note) => {
        const div = document.createElement("div");
        div.className = "note small";
        div.textContent = note;
        return div;
      }));
    } else if (key in video) {
      el.textContent = video[key] ?? "";
    }
  }
  for (const el of root.querySelectorAll("[data-show-when]")) {
    el.hidden = el.dataset.showWhen !== video.status;
  }
}

// Forms with data-confirm ask before submitting (delete).
export function confirmForms() {
  for (const form of document.querySelectorAll("form.confirm")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm || "Are you sure?")) event.preventDefault();
    });
  }
}
