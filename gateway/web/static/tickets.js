"use strict";
// Hidden dangers on the tickets page and the dashboard: ages that count live, the acknowledge form
// (the API, with the session's CSRF token), and the dashboard's list of open dangers kept current.
(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute("content") : "";
  const holder = document.querySelector("table.tickets[data-now]");
  // Ages count on the gateway's clock: the browser's may be off, the page says what "now" was.
  const skew = holder ? Number(holder.dataset.now) - Date.now() / 1000 : 0;
  const tz = holder ? holder.dataset.tz : undefined;
  let stamp = null;
  try {
    stamp = new Intl.DateTimeFormat("en-GB", {
      timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    });
  } catch (e) { stamp = null; }  // an unknown zone: the browser's own below

  function now() { return Date.now() / 1000 + skew; }
  function hms(seconds) {
    const total = Math.max(0, Math.round(seconds));
    const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    return h + ":" + String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
  }
  // As the server writes a time (gateway/i18n/formats.py): 2026年12月7日 14:05:09, or 2026-12-07 14:05:09.
  function when(ts) {
    const d = new Date(ts * 1000);
    if (!stamp) return d.toLocaleString(pageLanguage, { hour12: false });
    const p = {};
    for (const part of stamp.formatToParts(d)) p[part.type] = part.value;
    const clock = p.hour + ":" + p.minute + ":" + p.second;
    if (pageLanguage === "zh-CN") return Number(p.year) + "年" + Number(p.month) + "月" + Number(p.day) + "日 " + clock;
    return p.year + "-" + p.month + "-" + p.day + " " + clock;
  }
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function tick() {
    const t = now();
    document.querySelectorAll("[data-since]").forEach((cell) => {
      const text = hms(t - Number(cell.dataset.since));
      if (cell.textContent !== text) cell.textContent = text;
    });
  }
  setInterval(tick, 1000);

  // Who took the danger on, as the server draws it (_macros.html ticket_ack); names are text, never HTML.
  function ackCell(cell, ticket) {
    cell.replaceChildren();
    if (ticket.acknowledged_at === null || ticket.acknowledged_at === undefined) {
      cell.append(el("span", "not-acked", _("not acknowledged")));
      return;
    }
    const by = el("span", "ack-by", ticket.acknowledged_by || "");
    by.dataset.field = "ack-by";
    const at = el("span", "ack-at", when(ticket.acknowledged_at));
    at.dataset.field = "ack-at";
    cell.append(by, " ", at);
    if (ticket.note) {
      const note = el("span", "note", ticket.note);
      note.dataset.field = "note";
      cell.append(note);
    }
  }

  async function errorText(res) {
    try {
      const body = await res.json();
      if (body && body.error) return body.error;
    } catch (e) { /* not JSON */ }
    return _("the gateway answered HTTP {status}", { status: res.status });
  }

  document.querySelectorAll("form.ack-form").forEach((form) => {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const row = form.closest("tr");
      const button = form.querySelector("button");
      const status = form.querySelector(".ack-status");
      const note = form.elements.namedItem("note").value.trim();
      button.disabled = true;
      status.textContent = "";
      try {
        const res = await fetch("/api/v1/tickets/" + encodeURIComponent(form.dataset.ticket) + "/ack", {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json",
            "X-CSRF-Token": csrf,
            "Accept-Language": pageLanguage,
          },
          body: JSON.stringify({ note: note || null }),
        });
        if (res.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); return; }
        if (!res.ok) throw new Error(await errorText(res));
        const ticket = await res.json();
        ackCell(row.querySelector(".ack-cell"), ticket);
        row.classList.remove("unacked", "overdue");
        row.classList.add("acked");
        button.textContent = _("Update");
        status.textContent = _("acknowledged");
      } catch (err) {
        status.textContent = _("not acknowledged: {why}", { why: err.message });
        status.classList.add("bad");
      } finally {
        button.disabled = false;
      }
    });
  });

  // The dashboard: open dangers appear and go without a reload.
  const dangers = document.getElementById("danger-table");
  if (!dangers) return;
  const labels = JSON.parse(dangers.dataset.faults || "{}");
  const zones = JSON.parse(dangers.dataset.zones || "{}");
  const every = Math.max(5000, parseInt(dangers.dataset.refreshMs || "12000", 10));

  function dangerRow(t) {
    const row = el("tr", t.acknowledged_at === null ? "unacked" : "acked");
    row.dataset.ticket = String(t.id);
    const name = el("td", "c-name");
    const link = el("a", "cam-link", t.camera_name || t.camera_id);
    link.href = "/tickets?id=" + encodeURIComponent(t.id);
    name.append(link, el("span", "id", "#" + t.id + " · " + (zones[t.zone_id] || t.zone_id || t.camera_id)));
    const fault = el("td");
    fault.append(el("span", "badge fault fault-" + t.fault, labels[t.fault] || t.fault));
    const age = el("td", "num age", hms(now() - t.since));
    age.dataset.since = String(t.since);
    const ack = el("td", "ack-cell");
    ackCell(ack, t);
    row.append(name, fault, age, ack);
    return row;
  }

  async function refresh() {
    try {
      const res = await fetch("/api/v1/tickets?state=open&limit=1000", {
        credentials: "same-origin", headers: { Accept: "application/json", "Accept-Language": pageLanguage },
      });
      if (!res.ok) return;  // the dashboard's own refresh says when the gateway is unreachable
      const body = await res.json();
      const open = body.tickets.filter((t) => t.state === "open");
      // Unacknowledged first, then the oldest fault first: as the server orders them.
      open.sort((a, b) => ((a.acknowledged_at !== null) - (b.acknowledged_at !== null)) || (a.since - b.since) || (a.id - b.id));
      const known = new Map();
      dangers.querySelectorAll("tbody tr[data-ticket]").forEach((tr) => known.set(tr.dataset.ticket, tr));
      const rows = open.map((t) => {
        const drawn = known.get(String(t.id));
        // A row the server drew keeps its zone name and overdue mark while nothing about it changed.
        if (drawn && drawn.classList.contains(t.acknowledged_at === null ? "unacked" : "acked")) return drawn;
        return dangerRow(t);
      });
      dangers.tBodies[0].replaceChildren(...rows);
      document.getElementById("dangers-wrap").hidden = rows.length === 0;
      document.getElementById("dangers-none").hidden = rows.length !== 0;
      document.getElementById("dangers").classList.toggle("none", rows.length === 0);
      const count = document.querySelector('[data-count="dangers"]');
      if (count) count.textContent = String(rows.length);
    } catch (err) { /* kept as drawn; the next refresh tries again */ }
  }
  setInterval(() => { if (!document.hidden) refresh(); }, every);
  // A dashboard left in a background tab is not refreshed; coming back to it, it is at once.
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
})();
