// Webcam: getUserMedia, then JPEG frames over WS /v1/stream with one frame in flight at a time (the next
// leaves when this one's answer arrives), so the rate is what the server keeps up with and nothing queues.
// The answer's boxes are drawn over the live picture with the frame count, frames per second and latency.

import { $, apiKey, clearError, guarded, showError } from "./api.js";
import { drawFaces, element } from "./draw.js";

const live = { stream: null, socket: null, sentAt: 0, frames: 0, answered: [], grab: null };

// Browsers cannot set headers on a WebSocket, so the key goes in the query.
function streamUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const key = apiKey();
  return `${scheme}//${location.host}/v1/stream${key ? `?access_token=${encodeURIComponent(key)}` : ""}`;
}

async function openCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error("This browser gives the camera only to https:// pages or http://localhost.");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (exc) {
    throw new Error(`The camera could not be opened (${exc.message || exc.name}).`);
  }
}

async function startWebcam() {
  clearError();
  live.stream = await openCamera();
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

// Exactly one reply per frame: faces, an error for that frame (the session goes on), or skipped.
async function onStreamReply(event) {
  const reply = JSON.parse(event.data);
  if (reply.frame === undefined) {
    if (reply.error) showError(`The live stream was refused: ${reply.error.message}`);
    return;
  }
  if (reply.error) showError(`Frame ${reply.frame}: ${reply.error.message}`);
  if (reply.faces) {
    const now = performance.now();
    live.frames += 1;
    live.answered = live.answered.filter((t) => now - t < 2000).concat(now);
    drawFaces($("webcam-overlay"), $("webcam-video"), reply.faces);
    showLiveStats(now - live.sentAt, reply.latency_ms);
  }
  sendFrame();
}

// Frames per second over the last two seconds of answers; latency as the page saw it and as the server did.
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
  const reasons = { 1013: "the server has as many live sessions as it takes; try again later" };
  const why = event.reason || reasons[event.code] || "the connection was refused or lost";
  showError(`The live stream closed: ${why} (code ${event.code}).`);
}

export function stopWebcam() {
  const { stream, socket } = live;
  live.stream = null;
  live.socket = null;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "stopped");
  $("webcam-start").disabled = false;
  $("webcam-stop").disabled = true;
}

export function setUpWebcam() {
  $("webcam-start").addEventListener("click", guarded(startWebcam));
  $("webcam-stop").addEventListener("click", stopWebcam);
}
