// Where a face box measured in source-video pixels lands on a <video>
// element: the picture is scaled to fit (object-fit: contain), centred, with
// black bars on the sides or top and bottom.

export function validBox(box) {
  return Array.isArray(box) && box.length === 4 && box.every(Number.isFinite)
    && box[1] > box[3] && box[2] > box[0];
}

// box = [top, right, bottom, left] in the pixels of the stored file
// (sourceWidth x sourceHeight, as ffprobe saw it); returns CSS pixels
// relative to the video's offsetParent, or null when nothing can be drawn.
export function placeBox(video, box, sourceWidth, sourceHeight) {
  const vw = video.videoWidth, vh = video.videoHeight;
  if (!vw || !vh || !validBox(box)) return null;
  const cw = video.clientWidth, ch = video.clientHeight;
  const scale = Math.min(cw / vw, ch / vh);
  const shownW = vw * scale, shownH = vh * scale;
  // videoWidth is the display size; the box was measured on stored frames
  // (they differ for anamorphic video), so scale per axis from the source.
  const kx = shownW / (sourceWidth || vw), ky = shownH / (sourceHeight || vh);
  const [top, right, bottom, left] = box;
  return {
    left: video.offsetLeft + (cw - shownW) / 2 + left * kx,
    top: video.offsetTop + (ch - shownH) / 2 + top * ky,
    width: (right - left) * kx,
    height: (bottom - top) * ky,
  };
}

// The face's box at time t (seconds in the source video) from its track's
// samples [[t, top, right, bottom, left], ...] (time order): linear between the
// two samples around t, the nearest one before the first or after the last.
// Falls back to `fallback` (the segment's median box) when there are no samples.
export function boxAt(track, t, fallback = null) {
  if (!Array.isArray(track) || !track.length || !Number.isFinite(t)) return fallback;
  let lo = 0, hi = track.length - 1;
  if (t <= track[lo][0]) return track[lo].slice(1, 5);
  if (t >= track[hi][0]) return track[hi].slice(1, 5);
  while (hi - lo > 1) {  // binary search: tracks of long scenes hold thousands of samples
    const mid = (lo + hi) >> 1;
    if (track[mid][0] <= t) lo = mid; else hi = mid;
  }
  const a = track[lo], b = track[hi], f = (t - a[0]) / (b[0] - a[0]);
  return [1, 2, 3, 4].map((i) => a[i] + (b[i] - a[i]) * f);
}
