// Video files: POST /v1/video answers NDJSON, one line per analysed frame and then a summary; each line is
// drawn as it arrives. Then the clip plays with the boxes of the newest analysed frame laid over it, the
// timelines follow the playback, and the results download as JSON or CSV.

import { $, clearError, guarded, model, request, showError } from "./api.js";
import { download, drawFaces, element, percent } from "./draw.js";
import { clearTimelines, drawTimelines } from "./timeline.js";

const video = { frames: [], faces: 0, summary: null, duration: 0 };

// Reads an NDJSON body line by line as it arrives, calling `onLine` with each parsed object.
async function readLines(response, onLine) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { done, value } = await reader.read();
    pending += decoder.decode(value || new Uint8Array(), { stream: !done });
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines) if (line.trim()) onLine(JSON.parse(line));
    if (done) break;
  }
  if (pending.trim()) onLine(JSON.parse(pending));
}

async function analyseVideo(file) {
  if (!file) return;
  clearError();
  Object.assign(video, { frames: [], faces: 0, summary: null, duration: 0 });
  clearTimelines();
  for (const id of ["video-summary", "video-downloads"]) $(id).hidden = true;
  const player = $("video-player");
  if (player.src) URL.revokeObjectURL(player.src);
  player.src = URL.createObjectURL(file);
  for (const id of ["video-stage", "video-progress"]) $(id).hidden = false;
  setProgress("uploading…");
  const form = new FormData();
  form.append("file", file, file.name);
  const fps = encodeURIComponent($("video-fps").value || "5");
  const headers = { Accept: "application/x-ndjson" };
  const response = await request(`/v1/video?fps=${fps}`, { method: "POST", body: form, headers });
  await readLines(response, onVideoLine);
  drawVideoOverlay();
}

function onVideoLine(line) {
  if (line.error && line.frame !== undefined) {
    showError(`Frame ${line.frame} could not be analysed: ${line.error.message}`);
  } else if (line.error) {
    showError(`The video stopped being analysed: ${line.error.message}`);
  } else if (line.summary) {
    video.summary = line.summary;
    video.duration = line.summary.duration_ms / 1000 || video.duration;
    setProgress(`done: ${line.summary.frames} frames, ${line.summary.tracks.length} track(s)`, 1);
    showSummary(line.summary);
  } else {
    video.frames.push(line);
    video.faces += line.faces.length;
    const total = video.duration || $("video-player").duration || 0;
    const done = total ? Math.min(1, line.time_ms / 1000 / total) : undefined;
    const at = (line.time_ms / 1000).toFixed(1);
    setProgress(`${video.frames.length} frames, ${video.faces} faces, at ${at} s`, done);
    scheduleTimelines();
  }
}

function setProgress(text, fraction) {
  $("video-status").textContent = text;
  if (fraction === undefined) $("video-bar").removeAttribute("value");
  else $("video-bar").value = fraction;
}

// The newest analysed frame at or before the playback time (frames arrive in time order).
function frameAt(seconds) {
  const ms = seconds * 1000;
  let [low, high, found] = [0, video.frames.length - 1, null];
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (video.frames[middle].time_ms <= ms) {
      found = video.frames[middle];
      low = middle + 1;
    } else high = middle - 1;
  }
  return found;
}

// Boxes of the frame on screen (`data-frame` tells which analysed frame they belong to), and the timelines.
function drawVideoOverlay() {
  const player = $("video-player");
  const frame = frameAt(player.currentTime);
  drawFaces($("video-overlay"), player, frame ? frame.faces : []);
  $("video-overlay").dataset.frame = frame ? String(frame.frame) : "";
  if (video.frames.length) redrawTimelines();
}

function redrawTimelines() {
  const end = Math.max(video.duration * 1000, video.frames[video.frames.length - 1].time_ms, 1);
  drawTimelines(video.frames, end, $("video-player").currentTime * 1000);
}

function followPlayback() {
  drawVideoOverlay();
  if (!$("video-player").paused) requestAnimationFrame(followPlayback);
}

let timelinesPending = false;
function scheduleTimelines() {
  if (timelinesPending) return;
  timelinesPending = true;
  requestAnimationFrame(() => {
    timelinesPending = false;
    redrawTimelines();
  });
}

function showSummary(summary) {
  const rows = summary.tracks.map((track) => {
    const row = element("tr");
    const cells = [
      `#${track.track_id}`,
      `${(track.first_ms / 1000).toFixed(2)} s`,
      `${(track.last_ms / 1000).toFixed(2)} s`,
      track.frames,
      track.label,
      percent(track.probabilities[track.label]),
    ];
    for (const cell of cells) row.append(element("td", "", String(cell)));
    return row;
  });
  $("video-summary").querySelector("tbody").replaceChildren(...rows);
  $("video-summary").hidden = false;
  $("video-downloads").hidden = false;
}

// One row per face per analysed frame, every emotion's probability in the model's label order.
function videoCsv() {
  const names = model.labels;
  const header = ["frame", "time_ms", "track_id", "x1", "y1", "x2", "y2", "score", "label", ...names];
  const rows = [header.join(",")];
  for (const frame of video.frames) {
    for (const face of frame.faces) {
      const box = face.box || ["", "", "", ""];
      const values = [frame.frame, frame.time_ms, face.track_id, ...box, face.score ?? "", face.label];
      rows.push([...values, ...names.map((name) => face.probabilities[name])].join(","));
    }
  }
  return `${rows.join("\n")}\n`;
}

function videoJson() {
  return JSON.stringify({ frames: video.frames, summary: video.summary }, null, 1);
}

export function setUpVideo() {
  const player = $("video-player");
  $("video-input").addEventListener("change", guarded((event) => analyseVideo(event.target.files[0])));
  player.addEventListener("loadedmetadata", () => {
    if (!video.duration && Number.isFinite(player.duration)) video.duration = player.duration;
  });
  player.addEventListener("play", followPlayback);
  for (const name of ["seeked", "loadeddata", "pause"]) player.addEventListener(name, drawVideoOverlay);
  offer("video-json", "motivnet-video.json", "application/json", videoJson);
  offer("video-csv", "motivnet-video.csv", "text/csv", videoCsv);
}

// A download button; it keeps the size of what it last offered, so a reader knows when the saved file is whole.
function offer(id, name, type, text) {
  const button = $(id);
  button.addEventListener("click", () => {
    button.dataset.bytes = download(name, type, text());
  });
}
