"use strict";
// A thin client of the public API: the same bearer token and routes any integrator would use.
const KEY = "gateway-token";
const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem(KEY); }

async function api(path) {
  const res = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
  if (res.status === 401) { signOut("Token rejected."); throw new Error("unauthorised"); }
  if (!res.ok) throw new Error((await res.json()).error || res.statusText);
  return res.json();
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  $("cameras").hidden = true; $("logout").hidden = true; $("login").hidden = false;
  $("login-error").textContent = message || "";
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "–" : text;
  if (cls) td.className = cls;
  return td;
}

function ago(ts) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - ts));
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}

let hdMin = null;

function render(cameras) {
  const rows = $("camera-rows");
  rows.replaceChildren();
  let online = 0;
  for (const c of cameras) {
    const m = c.measured;
    if (c.state === "online" || c.state === "degraded") online++;
    const tr = document.createElement("tr");
    tr.append(cell(c.name), cell(c.zones.join(", ")));
    const st = document.createElement("td");
    const badge = document.createElement("span");
    badge.className = "badge " + c.state; badge.textContent = c.state;
    st.append(badge);
    if (c.reason) { const r = document.createElement("span"); r.className = "reason"; r.textContent = c.reason; st.append(r); }
    tr.append(st, cell(m.codec));
    const res = m.width ? m.width + "×" + m.height : null;
    const notHd = hdMin && m.width && Math.min(m.width, m.height) < Math.min(hdMin[0], hdMin[1]);
    tr.append(cell(res, notHd ? "not-hd" : ""), cell(m.fps), cell(m.bitrate_kbps == null ? null : m.bitrate_kbps + " kb/s"));
    const failed = (m.quality || []).filter((q) => q.state === "fail").map((q) => q.name.replace("_", " "));
    tr.append(cell(m.quality && m.quality.length ? (failed.length ? failed.join(", ") : "ok") : null, failed.length ? "not-hd" : ""));
    tr.append(cell(ago(c.since)), cell(c.url, "src"));
    rows.append(tr);
  }
  $("summary").textContent = online + " / " + cameras.length + " cameras online";
}

// Snapshots need the bearer token too: fetched once per event and kept as blob URLs.
const thumbs = new Map();

async function thumb(ev) {
  if (!thumbs.has(ev.id)) {
    const res = await fetch(ev.snapshot_url, { headers: { Authorization: "Bearer " + token() } });
    thumbs.set(ev.id, res.ok ? URL.createObjectURL(await res.blob()) : null);
  }
  return thumbs.get(ev.id);
}

async function renderEvents() {
  const status = await api("/api/v1/analytics");
  if (status.state === "off") return;
  $("events").hidden = false;
  $("analytics-state").textContent = status.state === "running"
    ? (status.detector ? status.detector.name : "") : status.state + (status.problem ? ": " + status.problem : "");
  const { events } = await api("/api/v1/events?limit=8");
  const list = $("event-list");
  const items = [];
  for (const ev of events) {
    const li = document.createElement("li");
    const src = ev.snapshot_url ? await thumb(ev) : null;
    if (src) { const img = document.createElement("img"); img.src = src; img.alt = ev.kind; li.append(img); }
    const text = document.createElement("div");
    const when = document.createElement("strong");
    when.textContent = ev.time.slice(0, 19).replace("T", " ") + " · " + ev.camera_id;
    const what = document.createElement("span");
    what.textContent = ev.message;
    text.append(when, what);
    li.append(text);
    items.push(li);
  }
  if (!items.length) { const li = document.createElement("li"); li.textContent = "No events yet."; items.push(li); }
  list.replaceChildren(...items);
}

async function refresh() {
  if (!token()) return;
  try { render(await api("/api/v1/cameras")); } catch (e) { console.warn(e); }
  // Police tokens may not read events (403): the panel then simply stays hidden.
  try { await renderEvents(); } catch (e) { console.warn(e); }
}

async function start() {
  const site = await api("/api/v1/site");
  $("site-name").textContent = site.name;
  $("site-unit").textContent = site.unit + (site.key_unit ? " · key unit" : "");
  hdMin = site.hd_min_resolution.split("x").map(Number);
  $("login").hidden = true; $("cameras").hidden = false; $("logout").hidden = false;
  await refresh();
}

// The report route needs the bearer token, so a plain link cannot fetch it: fetch, then hand the
// browser the file (auditor, operator and admin tokens only; others get the API's 403 message).
async function downloadReport(ev) {
  ev.preventDefault();
  $("report-error").textContent = "";
  const fmt = $("report-format").value;
  const res = await fetch("/api/v1/reports/coverage?period=" + $("report-period").value + "&format=" + fmt,
    { headers: { Authorization: "Bearer " + token() } });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    $("report-error").textContent = body.error || res.statusText;
    return;
  }
  const name = (res.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await res.blob());
  link.download = name ? name[1] : "coverage." + fmt;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

document.addEventListener("DOMContentLoaded", () => {
  $("report").addEventListener("submit", (ev) => downloadReport(ev).catch((e) => { $("report-error").textContent = e.message; }));
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("token").value.trim());
    $("token").value = "";
    start().catch((e) => signOut(e.message));
  });
  $("logout").addEventListener("click", () => signOut());
  if (token()) start().catch((e) => signOut(e.message)); else signOut();
  setInterval(refresh, 2000);
});
