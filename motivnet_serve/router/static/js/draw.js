// What the three modes draw alike: elements, percentages, faces boxed on a canvas, downloads.

// One colour per emotion (timelines) and one per face track (boxes), so the two never read as one.
export const PALETTE = ["#64748b", "#f59e0b", "#3b82f6", "#a855f7", "#14b8a6", "#65a30d", "#dc2626", "#db2777"];
export const TRACK_COLORS = ["#2563eb", "#e11d48", "#059669", "#7c3aed", "#ea580c", "#0891b2", "#4d7c0f"];

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function percent(value) {
  return `${(100 * value).toFixed(1)}%`;
}

export function faceTitle(face) {
  return `${face.label} ${percent(face.probabilities[face.label])}`;
}

// Boxes and labels on a canvas laid over a <video>; the canvas takes the video's own pixel size, in which the
// API gives its boxes. `data-faces` tells how many faces it shows.
export function drawFaces(canvas, video, faces) {
  canvas.width = video.videoWidth || canvas.width;
  canvas.height = video.videoHeight || canvas.height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.lineWidth = Math.max(2, canvas.width / 320);
  ctx.font = `${Math.max(12, Math.round(canvas.width / 45))}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  for (const face of faces) {
    if (face.box) drawFace(ctx, face, canvas.width);
  }
  canvas.dataset.faces = String(faces.length);
}

function drawFace(ctx, face, canvasWidth) {
  const [x1, y1, x2, y2] = face.box;
  const color = TRACK_COLORS[(face.track_id ?? 0) % TRACK_COLORS.length];
  const text = face.track_id === undefined ? faceTitle(face) : `#${face.track_id} ${faceTitle(face)}`;
  ctx.strokeStyle = color;
  ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  const width = ctx.measureText(text).width + 8;
  const height = parseInt(ctx.font, 10) + 4;
  // Above the box, kept inside the picture: below its top edge when the face is at the top.
  const left = Math.max(0, Math.min(x1, canvasWidth - width));
  const top = y1 >= height ? y1 - height : y1;
  ctx.fillStyle = color;
  ctx.fillRect(left, top, width, height);
  ctx.fillStyle = "#fff";
  ctx.fillText(text, left + 4, top + height - 2);
}

// Returns the bytes offered, which the caller shows (`data-bytes`): a saved file is complete only at that size.
export function download(name, type, text) {
  const blob = new Blob([text], { type });
  const link = element("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  return blob.size;
}
