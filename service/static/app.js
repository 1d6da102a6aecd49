// The demo page: photos through POST /predict, video files through POST /v1/video (NDJSON read as it
// arrives), the webcam through WS /v1/stream. No framework and no build step: the page is served as is.
"use strict";

const $ = (id) => document.getElementById(id);
// One colour per emotion (timelines) and one per face track (boxes), so the two never read as one.
const PALETTE = ["#64748b", "#f59e0b", "#3b82f6", "#a855f7", "#14b8a6", "#65a30d", "#dc2626", "#db2777"];
const TRACK_COLORS = ["#2563eb", "#e11d48", "#059669", "#7c3aed", "#ea580c", "#0891b2", "#4d7c0f"];
const KEY_STORE = "motivnet-api-key";
let labels = [];

// ---- talking to the API -------------------------------------------------------------------------------

function apiKey() {
  return $("api-key").value.trim();
}

function authHeaders(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

// The API's own words for a failure: {"error": {"code", "message"}}, else the HTTP status.
async function failureMessage(response) {
  try {
    const body = await response.json();
    if (body.error && body.error.message) return body.error.message;
  } catch (_) {
    // not JSON: fall through to the status line
  }
  return `the server answered ${response.status} ${response.statusText}`.trim();
}

async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: authHeaders(options.headers) });
  } catch (exc) {
    throw new Error(`Could not reach the server (${exc.message}).`);
  }
  if (!response.ok) throw new Error(await failureMessage(response));
  return response;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
}

// Runs an async action and shows its failure instead of leaving it in the console.
function guarded(action) {
  return (...args) => action(...args).catch((exc) => showError(exc.message));
}

async function loadModel() {
  const response = await fetch("/v1/models", { headers: authHeaders() });
  if (response.status === 503) {
    $("model").textContent = "the model is loading…";
    setTimeout(guarded(loadModel), 2000);
    return;
  }
  if (!response.ok) throw new Error(await failureMessage(response));
  const model = (await response.json()).models[0];
  labels = model.labels;
  showLegend();
  $("model").textContent = `${model.name} on ${model.device} · ${labels.join(", ")}`;
  clearError();
}

// ---- shared drawing ---------------------------------------------------------------------------------

function percent(value) {
  return `${(100 * value).toFixed(1)}%`;
}

function faceTitle(face) {
  return `${face.label} ${percent(face.probabilities[face.label])}`;
}

// Boxes and labels on a canvas laid over a <video>; the canvas has the video's own pixel size.
function drawFaces(canvas, video, faces) {
  canvas.width = video.videoWidth || canvas.width;
  canvas.height = video.videoHeight || canvas.height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.lineWidth = Math.max(2, canvas.width / 320);
  ctx.font = `${Math.max(12, Math.round(canvas.width / 45))}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  for (const face of faces) {
    if (!face.box) continue;
    const [x1, y1, x2, y2] = face.box;
    const color = TRACK_COLORS[(face.track_id ?? 0) % TRACK_COLORS.length];
    const text = face.track_id === undefined ? faceTitle(face) : `#${face.track_id} ${faceTitle(face)}`;
    ctx.strokeStyle = color;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const width = ctx.measureText(text).width + 8;
    const height = parseInt(ctx.font, 10) + 4;
    // Above the box, kept inside the picture: below its top edge when the face is at the top.
    const left = Math.max(0, Math.min(x1, canvas.width - width));
    const top = y1 >= height ? y1 - height : y1;
    ctx.fillStyle = color;
    ctx.fillRect(left, top, width, height);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, left + 4, top + height - 2);
  }
  canvas.dataset.faces = String(faces.length);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function download(name, type, text) {
  const link = element("a");
  link.href = URL.createObjectURL(new Blob([text], { type }));
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// ---- photos -----------------------------------------------------------------------------------------

function timingsText(headers) {
  const parts = [];
  for (const [name, value] of headers) {
    const match = /^x-(.+)-time$/.exec(name);
    if (match) parts.push(`${match[1]} ${Number(value).toFixed(1)} ms`);
  }
  return parts.length ? `server time: ${parts.join(" · ")}` : "";
}

async function analysePhotos(files) {
  if (!files.length) return;
  clearError();
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  $("photo-timings").textContent = `analysing ${files.length} photo(s)…`;
  let response;
  try {
    response = await request("/predict", { method: "POST", body: form });
  } catch (exc) {
    $("photo-timings").textContent = "";
    throw exc;
  }
  const answer = await response.json();
  $("photo-timings").textContent = `${answer.model}; ${timingsText(response.headers)}`;
  $("photo-results").replaceChildren();
  for (const [index, result] of answer.results.entries()) {
    $("photo-results").append(await photoResult(files[index], result));
  }
}

async function photoResult(file, result) {
  const section = element("div", "result");
  section.append(element("h3", "", `${file.name}: ${result.faces.length || "no"} face(s)`));
  const picture = element("div", "picture");
  const image = element("img");
  image.alt = file.name;
  image.src = URL.createObjectURL(file);
  await image.decode();
  picture.append(image);
  const cards = element("div", "cards");
  result.faces.forEach((face, index) => {
    const box = faceBox(face, index, image.naturalWidth, image.naturalHeight);
    const card = faceCard(face, index);
    for (const node of [box, card]) {
      node.addEventListener("mouseenter", () => [box, card].forEach((n) => n.classList.add("hot")));
      node.addEventListener("mouseleave", () => [box, card].forEach((n) => n.classList.remove("hot")));
    }
    picture.append(box);
    cards.append(card);
  });
  section.append(picture, cards);
  return section;
}

function faceBox(face, index, width, height) {
  const box = element("div", "face-box");
  const [x1, y1, x2, y2] = face.box || [0, 0, width, height];
  box.style.left = `${(100 * x1) / width}%`;
  box.style.top = `${(100 * y1) / height}%`;
  box.style.width = `${(100 * (x2 - x1)) / width}%`;
  box.style.height = `${(100 * (y2 - y1)) / height}%`;
  box.append(element("span", "", `${index + 1} ${face.label}`));
  return box;
}

function faceCard(face, index) {
  const card = element("div", "face-card");
  card.append(element("h4", "", `Face ${index + 1}: ${faceTitle(face)}`));
  for (const [label, probability] of Object.entries(face.probabilities)) {
    const row = element("div", "bar");
    const fill = element("i");
    fill.style.width = percent(probability);
    const track = element("div");
    track.append(fill);
    row.append(element("span", "", label), track, element("b", "", percent(probability)));
    card.append(row);
  }
  return card;
}

function setUpPhotos() {
  const drop = $("photo-drop");
  $("photo-input").addEventListener("change", guarded((event) => analysePhotos([...event.target.files])));
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener(
    "drop",
    guarded(async (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      await analysePhotos([...event.dataTransfer.files].filter((file) => file.type.startsWith("image/")));
    }),
  );
}

// ---- video files ------------------------------------------------------------------------------------

const video = { frames: [], summary: null, duration: 0 };

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
  clearError();
  Object.assign(video, { frames: [], summary: null, duration: 0 });
  $("video-timelines").replaceChildren();
  for (const id of ["video-summary", "video-downloads", "video-legend"]) $(id).hidden = true;
  const player = $("video-player");
  player.src = URL.createObjectURL(file);
  $("video-stage").hidden = false;
  $("video-progress").hidden = false;
  setProgress("uploading…");
  const form = new FormData();
  form.append("file", file, file.name);
  const fps = $("video-fps").value || "5";
  const response = await request(`/v1/video?fps=${encodeURIComponent(fps)}`, {
    method: "POST",
    body: form,
    headers: { Accept: "application/x-ndjson" },
  });
  await readLines(response, onVideoLine);
  drawTimelines();
  drawVideoOverlay();
}

function onVideoLine(line) {
  if (line.error) {
    showError(`The video stopped being analysed: ${line.error.message}`);
  } else if (line.summary) {
    video.summary = line.summary;
    video.duration = line.summary.duration_ms / 1000 || video.duration;
    setProgress(`done: ${line.summary.frames} frames, ${line.summary.tracks.length} track(s)`, 1);
    showSummary(line.summary);
  } else {
    video.frames.push(line);
    const faces = video.frames.reduce((sum, frame) => sum + frame.faces.length, 0);
    const total = video.duration || $("video-player").duration || 0;
    const done = total ? Math.min(1, line.time_ms / 1000 / total) : undefined;
    setProgress(`${video.frames.length} frames, ${faces} faces, at ${(line.time_ms / 1000).toFixed(1)} s`, done);
    scheduleTimelines();
  }
}

function setProgress(text, fraction) {
  $("video-status").textContent = text;
  if (fraction === undefined) $("video-bar").removeAttribute("value");
  else $("video-bar").value = fraction;
}

// The newest analysed frame at or before the playback time.
function frameAt(seconds) {
  const ms = seconds * 1000;
  let low = 0;
  let high = video.frames.length - 1;
  let found = null;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (video.frames[middle].time_ms <= ms) {
      found = video.frames[middle];
      low = middle + 1;
    } else high = middle - 1;
  }
  return found;
}

function drawVideoOverlay() {
  const player = $("video-player");
  const frame = frameAt(player.currentTime);
  drawFaces($("video-overlay"), player, frame ? frame.faces : []);
  $("video-overlay").dataset.frame = frame ? String(frame.frame) : "";
  if (video.frames.length) drawTimelines();
}

function followPlayback() {
  drawVideoOverlay();
  if (!$("video-player").paused) requestAnimationFrame(followPlayback);
}

// Per track: one line per emotion, probability (0..1) over the video's time.
function trackSeries() {
  const tracks = new Map();
  for (const frame of video.frames) {
    for (const face of frame.faces) {
      if (!tracks.has(face.track_id)) tracks.set(face.track_id, []);
      tracks.get(face.track_id).push({ t: frame.time_ms, p: face.probabilities });
    }
  }
  return tracks;
}

let timelinePending = false;
function scheduleTimelines() {
  if (timelinePending) return;
  timelinePending = true;
  requestAnimationFrame(() => {
    timelinePending = false;
    drawTimelines();
  });
}

// Every track's timeline, with a cursor at the playback time.
function drawTimelines() {
  const end = Math.max(video.duration * 1000, ...video.frames.map((frame) => frame.time_ms), 1);
  const box = $("video-timelines");
  const cursor = $("video-player").currentTime * 1000;
  $("video-legend").hidden = false;
  for (const [trackId, points] of trackSeries()) {
    let canvas = box.querySelector(`canvas[data-track="${trackId}"]`);
    if (!canvas) canvas = box.appendChild(timelineBlock(trackId)).querySelector("canvas");
    plotTrack(canvas, points, end, cursor);
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

function showLegend() {
  const keys = labels.map((label, index) => {
    const key = element("span", "", label);
    const swatch = element("i");
    swatch.style.background = PALETTE[index % PALETTE.length];
    key.prepend(swatch);
    return key;
  });
  $("video-legend").replaceChildren(...keys);
}

function plotTrack(canvas, points, endMs, cursorMs) {
  canvas.width = canvas.clientWidth || 800;
  canvas.height = canvas.clientHeight || 90;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const x = (t) => (t / endMs) * (canvas.width - 2) + 1;
  const y = (p) => (1 - p) * (canvas.height - 4) + 2;
  const names = labels.length ? labels : Object.keys(points[0].p);
  names.forEach((label, index) => {
    ctx.strokeStyle = PALETTE[index % PALETTE.length];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    points.forEach((point, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(point.t), y(point.p[label])));
    ctx.stroke();
  });
  ctx.strokeStyle = "#1d2430";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(x(cursorMs), 0);
  ctx.lineTo(x(cursorMs), canvas.height);
  ctx.stroke();
  canvas.dataset.points = String(points.length);
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

function videoCsv() {
  const names = labels.length ? labels : Object.keys(video.frames.find((f) => f.faces.length)?.faces[0].probabilities || {});
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

function setUpVideo() {
  const player = $("video-player");
  $("video-input").addEventListener("change", guarded((event) => analyseVideo(event.target.files[0])));
  player.addEventListener("loadedmetadata", () => {
    if (!video.duration && Number.isFinite(player.duration)) video.duration = player.duration;
  });
  player.addEventListener("play", followPlayback);
  for (const name of ["seeked", "loadeddata", "pause"]) player.addEventListener(name, drawVideoOverlay);
  $("video-json").addEventListener("click", () =>
    download("motivnet-video.json", "application/json", JSON.stringify({ frames: video.frames, summary: video.summary }, null, 1)),
  );
  $("video-csv").addEventListener("click", () => download("motivnet-video.csv", "text/csv", videoCsv()));
}

// ---- webcam -----------------------------------------------------------------------------------------

const live = { stream: null, socket: null, sentAt: 0, frames: 0, answered: [], grab: null };

function streamUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const key = apiKey();
  return `${scheme}//${location.host}/v1/stream${key ? `?access_token=${encodeURIComponent(key)}` : ""}`;
}

async function startWebcam() {
  clearError();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("This browser gives the camera only to https:// pages or http://localhost.");
  }
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (exc) {
    throw new Error(`The camera could not be opened (${exc.message || exc.name}).`);
  }
  const camera = $("webcam-video");
  camera.srcObject = live.stream;
  await camera.play();
  Object.assign(live, { frames: 0, answered: [], grab: element("canvas") });
  live.socket = new WebSocket(streamUrl());
  live.socket.addEventListener("open", () => {
    live.socket.send(JSON.stringify({ config: { detect: true } }));
    sendFrame();
  });
  live.socket.addEventListener("message", guarded(onStreamReply));
  live.socket.addEventListener("close", onStreamClosed);
  $("webcam-start").disabled = true;
  $("webcam-stop").disabled = false;
}

// One frame in flight at a time: the next leaves when this one's answer arrives.
function sendFrame() {
  if (!live.socket) return;
  const camera = $("webcam-video");
  const grab = live.grab;
  grab.width = camera.videoWidth;
  grab.height = camera.videoHeight;
  grab.getContext("2d").drawImage(camera, 0, 0);
  grab.toBlob(
    (blob) => {
      if (!live.socket || live.socket.readyState !== WebSocket.OPEN) return;
      live.sentAt = performance.now();
      live.socket.send(blob);
    },
    "image/jpeg",
    0.8,
  );
}

async function onStreamReply(event) {
  const reply = JSON.parse(event.data);
  const now = performance.now();
  if (reply.error && reply.frame === undefined) {
    showError(`The live stream was refused: ${reply.error.message}`);
    return;
  }
  if (reply.error) showError(`Frame ${reply.frame}: ${reply.error.message}`);
  if (reply.faces) {
    live.frames += 1;
    live.answered = live.answered.filter((t) => now - t < 2000).concat(now);
    drawFaces($("webcam-overlay"), $("webcam-video"), reply.faces);
    showLiveStats(now - live.sentAt, reply.latency_ms);
  }
  sendFrame();
}

function showLiveStats(roundTripMs, serverMs) {
  const recent = live.answered;
  const seconds = recent.length > 1 ? (recent[recent.length - 1] - recent[0]) / 1000 : 0;
  $("webcam-frames").textContent = String(live.frames);
  $("webcam-fps").textContent = seconds ? ((recent.length - 1) / seconds).toFixed(1) : "0.0";
  const server = serverMs === undefined ? "" : ` (server ${Math.round(serverMs)})`;
  $("webcam-latency").textContent = `${Math.round(roundTripMs)}${server}`;
}

function onStreamClosed(event) {
  const wanted = !live.stream;
  stopWebcam();
  if (wanted) return;
  const reasons = { 1013: "the server has as many live sessions as it takes; try again later", 1008: "refused" };
  const why = event.reason || reasons[event.code] || "the connection was lost";
  showError(`The live stream closed: ${why} (code ${event.code}).`);
}

function stopWebcam() {
  const { stream, socket } = live;
  live.stream = null;
  live.socket = null;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "stopped");
  $("webcam-start").disabled = false;
  $("webcam-stop").disabled = true;
}

function setUpWebcam() {
  $("webcam-start").addEventListener("click", guarded(startWebcam));
  $("webcam-stop").addEventListener("click", stopWebcam);
}

// ---- the page ---------------------------------------------------------------------------------------

function showMode(mode) {
  for (const tab of document.querySelectorAll("[data-mode]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
    $(tab.dataset.mode).hidden = tab.dataset.mode !== mode;
  }
  if (mode !== "webcam" && live.stream) stopWebcam();
}

function setUp() {
  $("api-key").value = sessionStorage.getItem(KEY_STORE) || "";
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem(KEY_STORE, apiKey());
    guarded(loadModel)();
  });
  for (const tab of document.querySelectorAll("[data-mode]")) {
    tab.addEventListener("click", () => showMode(tab.dataset.mode));
  }
  setUpPhotos();
  setUpVideo();
  setUpWebcam();
  guarded(loadModel)();
}

setUp();
