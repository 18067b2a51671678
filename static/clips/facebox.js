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
