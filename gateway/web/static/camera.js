"use strict";
// Live view over WebRTC: the browser offers to receive one video track, the gateway answers with the
// camera's stream (H.264 passed through, or transcoded), and the session is closed when the viewer
// stops or leaves the page so the gateway does not keep sending to nobody. A recording is watched the
// same way (the replay form): the offer goes to /replay with the span, and the same DELETE ends it.
(function () {
  const button = document.getElementById("live-toggle");
  const video = document.getElementById("live-video");
  if (!button || !video) return;
  const camera = button.dataset.camera;
  const statusEl = document.getElementById("live-status");
  const errorEl = document.getElementById("live-error");
  const idle = document.getElementById("live-idle");
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute("content") : "";
  const cameraPath = "/api/v1/cameras/" + encodeURIComponent(camera);
  const base = cameraPath + "/webrtc";
  const replayForm = document.getElementById("replay-form");
  const ICE_WAIT_MS = 5000;
  let pc = null;
  let sessionId = null;
  let busy = false;

  function status(text) { statusEl.textContent = text; }
  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = !text;
  }
  function setRunning(running) {
    button.textContent = running ? _("Stop") : _("Start");
    button.classList.toggle("danger", running);
    button.classList.toggle("primary", !running);
    idle.hidden = running;
    video.classList.toggle("running", running);
  }

  function iceGathered(conn) {
    if (conn.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ICE_WAIT_MS);  // send what was gathered; loopback needs no more
      conn.addEventListener("icegatheringstatechange", () => {
        if (conn.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
  }

  async function errorText(res) {
    try {
      const body = await res.json();
      if (body && body.error) return body.error;
    } catch (e) { /* not JSON */ }
    return _("the gateway answered HTTP {status}", { status: res.status });
  }

  function replaySpan() {
    const startText = document.getElementById("replay-start").value;
    const seconds = Number(document.getElementById("replay-length").value);
    const from = new Date(startText);  // datetime-local: this browser's time zone
    if (!startText || isNaN(from.getTime())) throw new Error(_("choose when the recording starts"));
    return { start: from.toISOString(), end: new Date(from.getTime() + seconds * 1000).toISOString(), from: from };
  }

  async function start(replay) {
    showError("");
    status(_("Connecting…"));
    pc = new RTCPeerConnection({ iceServers: [] });
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", (ev) => {
      video.srcObject = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
    });
    pc.addEventListener("connectionstatechange", () => {
      if (!pc) return;
      if (pc.connectionState === "failed") {
        showError(_("The video connection failed. The gateway may be unreachable from this browser."));
        stop();
      } else if (pc.connectionState === "disconnected") {
        status(_("Connection interrupted…"));
      }
    });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await iceGathered(pc);
    const body = { sdp: pc.localDescription.sdp, type: "offer" };
    if (replay) { body.start = replay.start; body.end = replay.end; }
    const res = await fetch(replay ? cameraPath + "/replay" : base, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept-Language": pageLanguage },
      body: JSON.stringify(body),
    });
    if (res.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); return; }
    if (!res.ok) throw new Error(await errorText(res));
    const answer = await res.json();
    sessionId = answer.session_id;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    setRunning(true);
    const codec = answer.codec ? String(answer.codec).toUpperCase() : _("video");
    const mode = answer.mode === "passthrough" ? _("passed through, not re-encoded") : _("transcoded by the gateway");
    const what = replay ? _("Recording from {when}", { when: replay.from.toLocaleString(pageLanguage, { hour12: false }) }) : _("Live");
    status(what + " · " + codec + " " + mode);
    video.dataset.kind = replay ? "replay" : "live";
    video.dataset.mode = answer.mode || "";
    video.dataset.codec = answer.codec || "";
  }

  function closeSession(keepalive) {
    const id = sessionId;
    sessionId = null;
    if (!id) return;
    fetch(base + "/" + encodeURIComponent(id), {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Accept-Language": pageLanguage },
      keepalive: keepalive,
    }).catch(() => { /* the gateway ends idle sessions itself */ });
  }

  function stop(keepalive) {
    closeSession(Boolean(keepalive));
    if (pc) { pc.close(); pc = null; }
    video.srcObject = null;
    setRunning(false);
    if (!errorEl.textContent) status(_("Stopped."));
  }

  async function guarded(what, action) {
    if (busy) return;
    busy = true;
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      const text = err && err.message ? err.message : String(err);
      stop();
      showError(_("{what} could not start: {why}", { what: what, why: text }));
      status("");
    } finally {
      busy = false;
      button.disabled = false;
    }
  }

  button.addEventListener("click", () => guarded(_("Live view"), async () => {
    if (pc) stop(); else await start(null);
  }));
  if (replayForm) {
    const input = document.getElementById("replay-start");
    if (!input.value) {  // an hour ago, in this browser's local time, as datetime-local wants it
      const d = new Date(Date.now() - 3600 * 1000);
      d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
      input.value = d.toISOString().slice(0, 19);
    }
    replayForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      guarded(_("The recording"), async () => {
        const span = replaySpan();
        if (pc) stop();
        await start(span);
      });
    });
  }
  window.addEventListener("pagehide", () => { if (pc) stop(true); });
})();

// PTZ: hold an arrow (or zoom) to move, release to stop; presets from the camera. The pad shows only
// when the API says the camera has PTZ. A command while someone else controls the camera says who.
(function () {
  const box = document.getElementById("ptz");
  if (!box) return;
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute("content") : "";
  const base = "/api/v1/cameras/" + encodeURIComponent(box.dataset.camera) + "/ptz";
  const statusEl = document.getElementById("ptz-status");
  const select = document.getElementById("ptz-presets");

  async function call(method, path, body) {
    const res = await fetch(base + path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept-Language": pageLanguage },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) {
      let text = "HTTP " + res.status;
      try { const j = await res.json(); if (j && j.error) text = j.error; } catch (e) { /* not JSON */ }
      statusEl.textContent = text;
      throw new Error(text);
    }
    return res.status === 204 ? null : res.json();
  }

  async function load() {
    const info = await call("GET", "");
    if (!info.supported) return;
    box.hidden = false;
    select.textContent = "";
    for (const p of info.presets) {
      const opt = document.createElement("option");
      opt.value = p.token;
      opt.textContent = p.name || p.token;
      select.appendChild(opt);
    }
    if (info.holder) statusEl.textContent = _("controlled by {name}", { name: info.holder });
  }

  function hold(button, body) {
    let moving = false;
    const start = (ev) => {
      ev.preventDefault();
      moving = true;
      call("POST", "/move", body).catch(() => { moving = false; });
    };
    const end = () => {
      if (!moving) return;
      moving = false;
      call("POST", "/stop").catch(() => { /* the camera stops by itself after a few seconds */ });
    };
    button.addEventListener("pointerdown", start);
    button.addEventListener("pointerup", end);
    button.addEventListener("pointerleave", end);
  }

  for (const b of box.querySelectorAll("[data-move]")) {
    const [pan, tilt] = b.dataset.move.split(",").map(Number);
    hold(b, { pan: pan * 0.5, tilt: tilt * 0.5 });
  }
  for (const b of box.querySelectorAll("[data-zoom]")) hold(b, { zoom: Number(b.dataset.zoom) * 0.5 });
  document.getElementById("ptz-home").addEventListener("click", () => call("POST", "/home").catch(() => {}));
  document.getElementById("ptz-goto").addEventListener("click", () => {
    if (select.value) call("POST", "/presets/" + encodeURIComponent(select.value) + "/goto").catch(() => {});
  });
  document.getElementById("ptz-remove").addEventListener("click", () => {
    if (select.value) call("DELETE", "/presets/" + encodeURIComponent(select.value)).then(load).catch(() => {});
  });
  document.getElementById("ptz-save").addEventListener("click", () => {
    const name = document.getElementById("ptz-name").value.trim();
    if (!name) { statusEl.textContent = _("give the preset a name"); return; }
    call("POST", "/presets", { name: name }).then(load).catch(() => {});
  });
  load().catch(() => { /* no PTZ, or the camera unreachable: the pad stays hidden */ });
})();
