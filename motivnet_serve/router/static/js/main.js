// The demo page: photos through POST /predict, video files through POST /v1/video, the webcam through
// WS /v1/stream. No framework and no build step: these modules are served as they are.

import { $, apiKey, failureMessage, authHeaders, clearError, guarded, model } from "./api.js";
import { setUpPhotos } from "./photos.js";
import { showLegend } from "./timeline.js";
import { setUpVideo } from "./video.js";
import { setUpWebcam, stopWebcam } from "./webcam.js";

const KEY_STORE = "motivnet-api-key";

// The served model's name and labels; while it loads (503) the page asks again every two seconds.
async function loadModel() {
  const response = await fetch("/v1/models", { headers: authHeaders() });
  if (response.status === 503) {
    $("model").textContent = "the model is loading…";
    setTimeout(guarded(loadModel), 2000);
    return;
  }
  if (!response.ok) throw new Error(await failureMessage(response));
  const served = (await response.json()).models[0];
  model.labels = served.labels;
  showLegend();
  $("model").textContent = `${served.name} on ${served.device} · ${served.labels.join(", ")}`;
  clearError();
}

function showMode(mode) {
  for (const tab of document.querySelectorAll("[data-mode]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
    $(tab.dataset.mode).hidden = tab.dataset.mode !== mode;
  }
  if (mode !== "webcam") stopWebcam();
}

// The key lives in this tab's session storage only, and is sent with every request. A new key takes back
// what the old one was told at once: the refusal stays on the page only if the new key is refused too.
function setUpKey() {
  $("api-key").value = sessionStorage.getItem(KEY_STORE) || "";
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem(KEY_STORE, apiKey());
    clearError();
    $("model").textContent = "checking the key…";
    guarded(loadModel)();
  });
}

setUpKey();
for (const tab of document.querySelectorAll("[data-mode]")) {
  tab.addEventListener("click", () => showMode(tab.dataset.mode));
}
setUpPhotos();
setUpVideo();
setUpWebcam();
guarded(loadModel)();
