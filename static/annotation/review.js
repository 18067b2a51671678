// Review page: the segment loops with the speaker's box, as annotators saw it.
import { Player } from "./player.js";

const data = document.getElementById("review-payload");
if (data) {
  const segment = JSON.parse(data.textContent);
  const $ = (id) => document.getElementById(id);
  const player = new Player({ container: $("players"), facebox: $("facebox"), audioOnly: $("audio-only"),
                              playHint: $("play-hint"), loopFill: $("loopbar-fill") });
  player.show(segment.media, segment.box);
  $("toggle-play").addEventListener("click", () => player.toggle());
}
