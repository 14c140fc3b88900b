"use strict";
// Keeps the dashboard's states and measured figures current without reloading the page.
(function () {
  const table = document.getElementById("camera-table");
  if (!table) return;
  const every = Math.max(5000, parseInt(table.dataset.refreshMs || "12000", 10));
  const hd = (table.dataset.hdMin || "0x0").split("x").map(Number);
  const stamp = document.getElementById("refreshed");
  const STATES = ["online", "degraded", "offline", "connecting", "disabled"];
  // The camera states in the page's language (the shared terms: they read as the server draws them).
  const STATE_WORDS = {
    online: _("online"),
    degraded: _("degraded"),
    offline: _("offline"),
    connecting: _("connecting"),
    disabled: _("disabled"),
    unknown: _("unknown"),
  };
  function num(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    return Number.isInteger(v) ? v.toLocaleString("en") : v.toLocaleString("en", { maximumFractionDigits: digits });
  }
  function kbps(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    return v >= 10000 ? num(Math.round(v / 100) / 10, 1) + " Mb/s" : Math.round(v).toLocaleString("en") + " kb/s";
  }
  function set(row, field, text) {
    const el = row.querySelector('[data-field="' + field + '"]');
    if (el && el.textContent !== text) el.textContent = text;
    return el;
  }
  function belowHd(m) {
    if (!m.width || !m.height) return false;
    return Math.min(m.width, m.height) < Math.min(hd[0], hd[1]) || Math.max(m.width, m.height) < Math.max(hd[0], hd[1]);
  }

  function apply(cameras) {
    const counts = { total: 0, online: 0, degraded: 0, offline: 0, other: 0 };
    for (const c of cameras) {
      const row = table.querySelector('tr[data-camera="' + CSS.escape(c.id) + '"]');
      if (!row) continue;  // a camera shared after the page was drawn appears on the next reload
      counts.total++;
      if (c.state in counts) counts[c.state]++; else counts.other++;
      const badge = set(row, "state", STATE_WORDS[c.state] || c.state);
      if (badge && STATES.includes(c.state)) badge.className = "badge st-" + c.state;
      if (badge) badge.dataset.state = c.state;
      // A reason unchanged since the page was drawn keeps the server's words (figures translated too).
      const reason = c.reason || "";
      if (row.dataset.reason !== reason) {
        row.dataset.reason = reason;
        // The API words it in the page's language (the request sends it), figures included.
        set(row, "reason", c.reason_text || "");
      }
      const m = c.measured;
      set(row, "codec", (m.codec || "–").toUpperCase());
      const res = set(row, "resolution", m.width && m.height ? m.width + "×" + m.height : "–");
      if (res) res.classList.toggle("below-hd", belowHd(m));
      set(row, "fps", num(m.fps, 1));
      set(row, "bitrate", kbps(m.bitrate_kbps));
    }
    for (const [key, value] of Object.entries(counts)) {
      const el = document.querySelector('[data-count="' + key + '"]');
      if (el) el.textContent = String(value);
    }
  }

  async function refresh() {
    try {
      const res = await fetch("/api/v1/cameras", {
        credentials: "same-origin", headers: { Accept: "application/json", "Accept-Language": pageLanguage },
      });
      if (res.status === 401) { window.location.assign("/login?next=/"); return; }
      if (!res.ok) throw new Error("HTTP " + res.status);
      apply(await res.json());
      if (stamp) {
        stamp.textContent = _(" · updated {time}", { time: new Date().toLocaleTimeString("en-GB") });
        stamp.classList.remove("stale");
      }
    } catch (err) {
      if (stamp) { stamp.textContent = _(" · refresh failed, showing older figures"); stamp.classList.add("stale"); }
    }
  }
  setInterval(() => { if (!document.hidden) refresh(); }, every);
  refresh();
})();
