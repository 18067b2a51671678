// Review page: the segment loops with the speaker's box, as annotators saw it,
// and the final label is set with the annotate page's pad and keys:
// 1-7 category, arrows move the point, Enter = save & next, G = gold.
import { Player } from "./player.js";
import { isTyping, movePadWithKey, VAPad } from "./vapad.js";

const $ = (id) => document.getElementById(id);
const segment = JSON.parse($("review-payload").textContent);
const form = $("review-form");

let player = null;
if ($("players") && segment.media.url) {
  player = new Player({ container: $("players"), facebox: $("facebox"), audioOnly: $("audio-only"),
                        playHint: $("play-hint"), loopFill: $("loopbar-fill") });
  player.show(segment.media, segment.box, segment.track);
  $("toggle-play").addEventListener("click", () => player.toggle());
}

// The inputs keep any value typed (e.g. an unrounded mean); the pad follows them,
// and moving the pad writes its (0.01-rounded) point back into them.
// An axis the pad did not move keeps its typed value.
const follow = (input, value) => { if (Math.round(Number(input.value) * 100) / 100 !== value) input.value = value; };
const pad = new VAPad({ pad: $("vapad"), dot: $("vapad-dot"), ghost: $("vapad-ghost"),
                        valenceOut: $("va-v"), arousalOut: $("va-a"),
                        onChange: () => { follow(form.valence, pad.valence); follow(form.arousal, pad.arousal); } });
const fromInputs = () => pad.set(Number(form.valence.value) || 0, Number(form.arousal.value) || 0);
fromInputs();
pad.showGhost(segment.prelabel);
form.valence.addEventListener("input", fromInputs);
form.arousal.addEventListener("input", fromInputs);

function submitWith(buttonId) {
  const button = $(buttonId);
  if (button) form.requestSubmit(button);
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event)) return;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (/^[1-7]$/.test(key)) form.category.selectedIndex = Number(key) - 1;
  else if (movePadWithKey(pad, event)) { /* moved */ }
  else if (key === "Enter" && !event.target.closest("button, a")) submitWith("save-next");
  else if (key === "g") submitWith("mark-gold");
  else if (key === " " && player) player.toggle();
  else if (key === "r" && player) player.restart();
  else return;
  event.preventDefault();
});
