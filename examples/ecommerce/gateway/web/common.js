// Shared by the storefront and the dashboard: the token store and a JSON
// fetch helper. No framework, no build step.
"use strict";

const TOKEN_KEY = "switchyard.token";

const session = {
  // load returns {token, email, role, expires} or null when there is no
  // unexpired token.
  load() {
    try {
      const s = JSON.parse(localStorage.getItem(TOKEN_KEY) || "null");
      if (s && s.token && Date.parse(s.expires) > Date.now()) return s;
    } catch (e) { /* a damaged entry counts as none */ }
    localStorage.removeItem(TOKEN_KEY);
    return null;
  },
  save(token, expires) {
    const claims = decodeClaims(token);
    const s = { token, expires, email: claims.email || "", role: claims.role || "user" };
    localStorage.setItem(TOKEN_KEY, JSON.stringify(s));
    return s;
  },
  clear() { localStorage.removeItem(TOKEN_KEY); },
};

// decodeClaims reads a JWT's payload for display only; the gateway and the
// services are the ones that verify it.
function decodeClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
  } catch (e) {
    return {};
  }
}

class APIError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// api sends a JSON request to the gateway and returns the decoded answer,
// or throws an APIError carrying the shop's error code.
async function api(method, path, { body, token, headers } = {}) {
  const h = Object.assign({ "Accept": "application/json" }, headers || {});
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (token) h["Authorization"] = "Bearer " + token;
  let resp;
  try {
    resp = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new APIError(0, "network", "The shop cannot be reached.");
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    throw new APIError(resp.status, err.code || "http_" + resp.status,
      err.message || resp.statusText, Number(resp.headers.get("Retry-After")) || 0);
  }
  return data;
}

function money(cents) {
  const n = Number(cents) || 0;
  return (n < 0 ? "-$" : "$") + (Math.abs(n) / 100).toFixed(2);
}

// el builds an element with text content only: data from the API never
// becomes HTML.
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
