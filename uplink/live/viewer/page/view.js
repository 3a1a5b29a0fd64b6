// The owner's live view. The page makes its own WebRTC offer; the local
// server (doorwardctl view) signs the live statement with the owner key,
// which never reaches this page, and forwards the offer to the device.
// Everything the device says is shown with textContent, never as HTML.
"use strict";

const token = new URLSearchParams(location.search).get("t") || "";
const q = "?t=" + encodeURIComponent(token);
const $ = (id) => document.getElementById(id);

// window.doorward is what the page knows, for people and for tests.
const view = (window.doorward = {
  state: "new", firstFrameMs: null, width: 0, height: 0, error: null,
  pc: null, session: null, clip: null, clipError: null, lastState: null,
});

function show(id, text) { $(id).textContent = text; }

function liveError(msg) {
  view.error = msg;
  const p = $("live-error");
  p.textContent = msg;
  p.hidden = !msg;
}

function gathered(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
    });
  });
}

async function stop() {
  if (view.session) {
    const loc = view.session;
    view.session = null;
    try { await fetch(loc + q, { method: "DELETE", keepalive: true }); } catch (e) { /* the server may be gone */ }
  }
  if (view.pc) { view.pc.close(); view.pc = null; }
}

async function start() {
  await stop();
  liveError("");
  view.firstFrameMs = null;
  show("ttff", "–");
  const t0 = performance.now();
  const pc = new RTCPeerConnection();
  view.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  const video = $("live");
  pc.ontrack = (e) => { video.srcObject = e.streams[0] || new MediaStream([e.track]); };
  pc.onconnectionstatechange = () => {
    view.state = pc.connectionState;
    show("conn", pc.connectionState);
    if (pc.connectionState === "failed") liveError("the connection failed (no network path to the device; a TURN server may be needed)");
  };
  const firstFrame = () => {
    if (view.firstFrameMs !== null) return;
    view.firstFrameMs = Math.round(performance.now() - t0);
    show("ttff", view.firstFrameMs + " ms");
  };
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(firstFrame);
  else video.addEventListener("loadeddata", firstFrame, { once: true });
  video.addEventListener("resize", () => {
    view.width = video.videoWidth; view.height = video.videoHeight;
    show("size", video.videoWidth + "×" + video.videoHeight);
  });
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 2000);
    const r = await fetch("/api/whep" + q, {
      method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp,
    });
    if (r.status !== 201) {
      let msg = r.status + " " + r.statusText;
      try { const e = await r.json(); msg = e.error + (e.reason ? " (" + e.reason + ")" : ""); } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    view.session = r.headers.get("Location");
    await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
  } catch (e) {
    liveError("no live view: " + e.message);
    view.state = "refused";
    show("conn", "refused");
  }
}

function fmtDuration(s) { return s < 60 ? s.toFixed(1) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s"; }
function fmtTime(t) { return new Date(t).toLocaleString(); }

function playClip(c, row) {
  const v = $("clip");
  for (const tr of document.querySelectorAll("#clips tbody tr")) tr.classList.remove("playing");
  row.classList.add("playing");
  view.clip = "/clips/" + encodeURIComponent(c.id) + ".mp4" + q;
  view.clipError = null;
  v.hidden = false;
  v.src = view.clip;
  v.onerror = () => { view.clipError = v.error ? v.error.message || String(v.error.code) : "error"; };
  v.play().catch((e) => { view.clipError = e.message; });
}

function renderClips(st) {
  const body = $("clips").tBodies[0];
  const note = $("clips-note");
  if (!st.lan_reads) { note.textContent = "Clips, notices and the audit log are read over the LAN: run doorwardctl view with the device's LAN URL."; return; }
  note.textContent = st.errors && st.errors.clips ? "clips: " + st.errors.clips : st.clips.length + " clips, newest first. Click one to play it.";
  const playing = view.clip;
  body.replaceChildren();
  for (const c of st.clips) {
    const tr = document.createElement("tr");
    tr.dataset.clip = c.id;
    for (const text of [fmtTime(c.start), c.trigger + (c.recording ? " (recording)" : ""), fmtDuration(c.duration), (c.bytes / 1e6).toFixed(1) + " MB"]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    if (playing && playing.startsWith("/clips/" + encodeURIComponent(c.id) + ".mp4")) tr.classList.add("playing");
    tr.addEventListener("click", () => playClip(c, tr));
    body.appendChild(tr);
  }
}

function renderNotices(st) {
  const ul = $("notices");
  ul.replaceChildren();
  if (st.errors && st.errors.notices) { const li = document.createElement("li"); li.textContent = "notices: " + st.errors.notices; ul.appendChild(li); return; }
  if (st.lan_reads && st.notices.length === 0) { const li = document.createElement("li"); li.textContent = "No disclosures."; ul.appendChild(li); }
  for (const n of st.notices) {
    const li = document.createElement("li");
    let text = fmtTime(n.time) + ": " + n.kind + " " + n.authority + " to " + n.recipient + ", " + n.segments + " segments";
    if (n.basis || n.case) text += " (" + [n.basis, n.case].filter(Boolean).join(", case ") + ")";
    if (n.note) text += ". " + n.note;
    li.textContent = text;
    ul.appendChild(li);
  }
}

function renderAudit(st) {
  const p = $("audit");
  if (st.errors && st.errors.audit) { p.textContent = "audit: " + st.errors.audit; p.className = "bad"; return; }
  if (!st.audit) { p.textContent = st.lan_reads ? "–" : "read over the LAN"; return; }
  const a = st.audit;
  p.className = a.verified ? "ok" : "bad";
  p.textContent = (a.verified ? "Verified: " : "DOES NOT VERIFY: " + (a.error || "") + ". ") +
    a.entries + " entries, checkpoint " + fmtTime(a.time) + ", " + a.live_sessions + " live sessions recorded.";
  const s = $("status");
  if (st.status) {
    const d = st.status;
    s.textContent = "board " + d.board + ", " + (d.recording ? "recording" : "idle") + ", " + (d.healthy ? "healthy" : "UNHEALTHY") +
      (d.camera_stalled ? ", camera stalled" : "") + (d.clock_synced ? "" : ", clock not synchronized") +
      ", " + (d.clip_bytes / 1e6).toFixed(1) + " MB of encrypted clips, " + (d.disk_free / 1e9).toFixed(1) + " GB free" +
      (d.last_event ? ", last " + d.last_event.kind + " " + fmtTime(d.last_event.time) : "");
    $("sim").hidden = !d.sim;
  } else if (st.errors && st.errors.status) {
    s.textContent = "status: " + st.errors.status;
  }
}

async function refresh() {
  try {
    const r = await fetch("/api/state" + q);
    if (!r.ok) throw new Error(r.status + " " + r.statusText);
    const st = await r.json();
    view.lastState = st;
    show("via", st.via || "");
    renderClips(st);
    renderNotices(st);
    renderAudit(st);
  } catch (e) {
    show("clips-note", "cannot read the device: " + e.message);
  }
}

async function fire(event) {
  show("sim-result", event + "…");
  const r = await fetch("/api/trigger/" + event + q, { method: "POST" });
  show("sim-result", r.ok ? event + " fired" : event + ": " + r.status + " " + (await r.text()));
  setTimeout(refresh, 500);
}

$("reconnect").addEventListener("click", start);
$("fire-motion").addEventListener("click", () => fire("motion"));
$("fire-ring").addEventListener("click", () => fire("ring"));
addEventListener("pagehide", stop);
view.stop = stop; // ends the session as leaving the page does (tests await it)
start();
refresh();
setInterval(refresh, 5000);
