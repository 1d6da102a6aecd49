// An emotion timeline per face track: one line per emotion, its probability (0..1) over the video's time, and
// a cursor at the playback time. Plain canvas drawing: a chart library would be most of the page's weight.

import { $, model } from "./api.js";
import { element, PALETTE, TRACK_COLORS } from "./draw.js";

// Per track id, its points in time order: {t: ms, p: probabilities}.
function trackSeries(frames) {
  const tracks = new Map();
  for (const frame of frames) {
    for (const face of frame.faces) {
      if (!tracks.has(face.track_id)) tracks.set(face.track_id, []);
      tracks.get(face.track_id).push({ t: frame.time_ms, p: face.probabilities });
    }
  }
  return tracks;
}

export function clearTimelines() {
  $("video-timelines").replaceChildren();
  $("video-legend").hidden = true;
}

export function drawTimelines(frames, endMs, cursorMs) {
  const box = $("video-timelines");
  $("video-legend").hidden = false;
  for (const [trackId, points] of trackSeries(frames)) {
    let canvas = box.querySelector(`canvas[data-track="${trackId}"]`);
    if (!canvas) canvas = box.appendChild(timelineBlock(trackId)).querySelector("canvas");
    plotTrack(canvas, points, endMs, cursorMs);
  }
}

function timelineBlock(trackId) {
  const block = element("div", "timeline");
  const title = element("h4", "", `Track #${trackId}`);
  title.style.color = TRACK_COLORS[trackId % TRACK_COLORS.length];
  const canvas = element("canvas");
  canvas.dataset.track = String(trackId);
  block.append(title, canvas);
  return block;
}

export function showLegend() {
  const keys = model.labels.map((label, index) => {
    const key = element("span", "", label);
    const swatch = element("i");
    swatch.style.background = PALETTE[index % PALETTE.length];
    key.prepend(swatch);
    return key;
  });
  $("video-legend").replaceChildren(...keys);
}

// `data-points` tells how many frames of the track the canvas shows.
function plotTrack(canvas, points, endMs, cursorMs) {
  canvas.width = canvas.clientWidth || 800;
  canvas.height = canvas.clientHeight || 64;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const x = (t) => (t / endMs) * (canvas.width - 2) + 1;
  const y = (p) => (1 - p) * (canvas.height - 4) + 2;
  const names = model.labels.length ? model.labels : Object.keys(points[0].p);
  names.forEach((label, index) => {
    ctx.strokeStyle = PALETTE[index % PALETTE.length];
    ctx.lineWidth = 1.5;
    line(ctx, points.map((point) => [x(point.t), y(point.p[label])]));
  });
  ctx.strokeStyle = "#1d2430";
  ctx.lineWidth = 1;
  line(ctx, [
    [x(cursorMs), 0],
    [x(cursorMs), canvas.height],
  ]);
  canvas.dataset.points = String(points.length);
}

function line(ctx, xys) {
  ctx.beginPath();
  xys.forEach(([x, y], index) => (index ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.stroke();
}
