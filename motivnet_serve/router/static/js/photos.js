// Photos: one POST /predict for every picked or dropped image; a box per face over each picture, a card of
// emotion bars per face (hovering either lights up both), and where the server's time went.

import { $, clearError, guarded, request } from "./api.js";
import { element, faceTitle, percent } from "./draw.js";

let pictureUrls = [];

// The server reads HEIC/HEIF, but most browsers cannot draw it: the faces are then listed without the picture.
const NO_PREVIEW = "This browser cannot show this picture (HEIC?); the faces the server found are listed below.";
// Picked or dropped files the server reads: browsers often give HEIC and AVIF files no image/* type.
const PHOTO_NAME = /\.(jpe?g|png|webp|bmp|gif|tiff?|heic|heif|avif)$/i;

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
  pictureUrls.forEach((url) => URL.revokeObjectURL(url));
  pictureUrls = [];
  $("photo-results").replaceChildren();
  for (const [index, result] of answer.results.entries()) {
    $("photo-results").append(await photoResult(files[index], result));
  }
}

async function photoResult(file, result) {
  const section = element("div", "result");
  section.append(element("h3", "", `${file.name}: ${result.faces.length || "no"} face(s)`));
  const image = await preview(file);
  const picture = image ? element("div", "picture") : element("p", "hint no-preview", NO_PREVIEW);
  if (image) picture.append(image);
  const cards = element("div", "cards");
  result.faces.forEach((face, index) => {
    const card = faceCard(face, index);
    cards.append(card);
    if (!image) return;
    const box = faceBox(face, index, image.naturalWidth, image.naturalHeight);
    for (const node of [box, card]) {
      node.addEventListener("mouseenter", () => [box, card].forEach((n) => n.classList.add("hot")));
      node.addEventListener("mouseleave", () => [box, card].forEach((n) => n.classList.remove("hot")));
    }
    picture.append(box);
  });
  section.append(picture, cards);
  return section;
}

// The picture as the browser shows it, or null when it cannot decode it (HEIC in Chromium and Firefox).
async function preview(file) {
  const image = element("img");
  image.alt = file.name;
  image.src = URL.createObjectURL(file);
  pictureUrls.push(image.src);
  try {
    await image.decode();
    return image;
  } catch (_) {
    return null;
  }
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
  card.append(element("h4", "", `${index + 1}. ${faceTitle(face)}`));
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

export function setUpPhotos() {
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
      await analysePhotos([...event.dataTransfer.files].filter((file) => file.type.startsWith("image/") || PHOTO_NAME.test(file.name)));
    }),
  );
}
