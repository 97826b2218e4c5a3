// The admin dashboard: polls GET /admin/api/state every 2 s with the admin
// token and draws each upstream's instances and the gateway's routes.
"use strict";

const $ = (id) => document.getElementById(id);
let current = session.load();
let timer = null;

function say(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.className = kind || "info";
  s.hidden = !text;
}

function showLogin(message) {
  clearInterval(timer);
  timer = null;
  $("dashboard").hidden = true;
  $("login-panel").hidden = false;
  $("logout").hidden = !current;
  $("who").textContent = current ? `Signed in as ${current.email}` : "Not signed in";
  if (message) say(message, "error");
}

function start() {
  $("login-panel").hidden = true;
  $("dashboard").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = `Signed in as ${current.email}`;
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, 2000);
}

async function refresh() {
  if (!current) return showLogin();
  try {
    const st = await api("GET", "/admin/api/state", { token: current.token });
    draw(st);
    say("", "");
  } catch (err) {
    if (err.status === 401) {
      session.clear();
      current = null;
      showLogin("Your session has expired; log in again.");
    } else if (err.status === 403) {
      showLogin(`${current.email} is not an admin.`);
    } else {
      say(err.status === 0 ? "The gateway cannot be reached; retrying…" : `Could not read the state: ${err.message}`, "error");
    }
  }
}

function badge(text, kind) {
  return el("span", { class: "badge " + kind }, text);
}

function draw(st) {
  $("updated").textContent = new Date(st.generated_at).toLocaleTimeString();
  $("uptime").textContent = duration(st.uptime_seconds);
  const box = $("services");
  box.replaceChildren();
  for (const s of st.services || []) {
    const rows = (s.instances || []).map((i) => el("tr", { class: "instance", dataset: { id: i.id } },
      el("td", {}, el("code", {}, i.id)),
      el("td", {}, el("code", {}, i.addr)),
      el("td", {}, badge(i.health, i.health === "ready" ? "ok" : i.health === "draining" || i.health === "starting" ? "warn" : "bad")),
      el("td", {}, i.ejected ? badge(`ejected ×${i.ejections}`, "bad") : badge("in pool", "ok")),
      el("td", {}, badge(i.breaker, i.breaker === "closed" ? "ok" : i.breaker === "half-open" ? "warn" : "bad")),
      el("td", { class: "num" }, i.in_flight),
      el("td", { class: "num" }, i.requests),
      el("td", { class: "num" }, i.failures)));
    if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No instance registered.")));
    box.append(el("section", { class: "panel service", dataset: { service: s.service } },
      el("h2", {}, s.service, " ",
        el("span", { class: "muted small" }, `${(s.instances || []).length} instance(s), ${s.policy}`), " ",
        s.panic_mode ? badge("panic mode", "bad") : null),
      el("table", { class: "data" },
        el("thead", {}, el("tr", {}, ...["instance", "address", "health", "outlier", "breaker", "in flight", "requests", "failures"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...rows))));
  }
  const routes = $("routes");
  routes.replaceChildren(...(st.routes || []).map((r) => el("tr", {},
    el("td", {}, el("code", {}, r.route)),
    el("td", { class: "num" }, r.requests),
    el("td", { class: "num" }, r.client_errors),
    el("td", { class: "num" }, r.server_errors),
    el("td", { class: "num" }, r.canceled),
    el("td", { class: "num" }, r.requests ? `${r.mean_latency_ms} ms` : "–"))));
}

function duration(s) {
  s = Math.floor(s || 0);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const res = await api("POST", "/api/v1/login", {
      body: { email: $("login-email").value.trim(), password: $("login-password").value },
    });
    current = session.save(res.token, res.expires_at);
    $("login-form").reset();
    say("", "");
    start();
  } catch (err) {
    say(err.status === 401 ? "Wrong email or password." : err.status === 429
      ? `Too many attempts; try again in ${err.retryAfter || 1} s.` : `Could not log in: ${err.message}`, "error");
  }
});
$("logout").addEventListener("click", () => {
  session.clear();
  current = null;
  showLogin();
});

if (current) start(); else showLogin();
