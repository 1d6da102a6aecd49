// Talking to the API: the key, requests, and a failure shown in the API's own words.

export const $ = (id) => document.getElementById(id);

// The served model's labels (from /v1/models), in the order its probabilities come; main.js fills them in.
export const model = { labels: [] };

export function apiKey() {
  return $("api-key").value.trim();
}

export function authHeaders(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

// The API's own words for a failure: {"error": {"code", "message"}}, else the HTTP status.
export async function failureMessage(response) {
  try {
    const body = await response.json();
    if (body.error && body.error.message) return body.error.message;
  } catch (_) {
    // not JSON: fall through to the status line
  }
  return `the server answered ${response.status} ${response.statusText}`.trim();
}

// fetch with the key; a refusal or an unreachable server becomes an Error with words a person can act on.
export async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: authHeaders(options.headers) });
  } catch (exc) {
    throw new Error(`Could not reach the server (${exc.message}).`);
  }
  if (!response.ok) throw new Error(await failureMessage(response));
  return response;
}

export function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

export function clearError() {
  $("error").hidden = true;
}

// Runs an async action and shows its failure on the page instead of leaving it in the console.
export function guarded(action) {
  return (...args) => action(...args).catch((exc) => showError(exc.message));
}
