// The data endpoints, with the read token when the service has one.
//
// The token is asked for once, when a request first comes back 401, and kept in
// sessionStorage: for this tab only, gone when it closes, never in the URL or localStorage.

import { $ } from "./dom.js";

const TOKEN_KEY = "claire.readToken";

export class ApiError extends Error {
  constructor(status, message, problems = []) {
    super(message);
    this.status = status;
    this.problems = problems;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

let asking = null; // one dialog for every request that got a 401 at the same time

function askToken(message) {
  if (asking) return asking;
  const dialog = $("#token-dialog");
  const input = $("#token-input");
  $("#token-message").textContent = message;
  input.value = "";
  asking = new Promise((resolve) => {
    const done = () => {
      dialog.removeEventListener("close", done);
      asking = null;
      const value = dialog.returnValue === "ok" ? input.value.trim() : "";
      input.value = "";
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      resolve(value || null);
    };
    dialog.addEventListener("close", done);
    dialog.showModal();
    input.focus();
  });
  return asking;
}

export function headers(extra = {}) {
  const result = { Accept: "application/json", ...extra };
  const current = token();
  if (current) result.Authorization = `Bearer ${current}`;
  return result;
}

function url(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  let problems = [];
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") message = body.error;
    else if (body && typeof body.detail === "string") message = body.detail;
    if (Array.isArray(body?.problems)) problems = body.problems;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message, problems);
}

/**
 * fetch() a data endpoint and return its JSON. A 401 asks for the read token and retries;
 * a cancelled token prompt gives an ApiError(401). `signal` aborts stale requests.
 */
export async function request(path, { params, method = "GET", body, signal } = {}) {
  for (;;) {
    const init = { method, headers: headers(), signal };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url(path, params), init);
    if (response.ok) return response.json();
    const error = await errorOf(response);
    if (response.status !== 401) throw error;
    const hadToken = Boolean(token());
    forgetToken();
    const prompt = hadToken
      ? "That token was refused. Enter the service's read token again."
      : "This service needs its read token (CLAIRE_READ_TOKEN) to show events.";
    if (!(await askToken(prompt))) throw error;
  }
}

export const get = (path, params, options = {}) => request(path, { ...options, params });
export const post = (path, body, options = {}) =>
  request(path, { ...options, method: "POST", body });

/** Is this an AbortController's cancellation (a newer request replaced this one)? */
export function aborted(error) {
  return error instanceof DOMException && error.name === "AbortError";
}

/**
 * Keep only the newest of a kind of request: each call aborts the previous one still in
 * flight, so scrubbing the cursor never renders an older answer over a newer one.
 */
export function latest() {
  let controller = null;
  return (path, options = {}) => {
    controller?.abort();
    controller = new AbortController();
    return request(path, { ...options, signal: controller.signal });
  };
}
