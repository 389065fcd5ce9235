// The tickwire page: join a match, play with keyboard and mouse, or spectate.
//
// Data path: WebSocket binary message -> protocol.js World.apply (the project's own
// msgpack decoder and world model) -> a snapshot of the entities, stamped with the
// receive time -> render.js draws the world INTERP_DELAY_MS in the past, blended between
// snapshots. The player's own entity is predicted instead (when the match's meta says
// how fast players move): the last acknowledged server position plus the inputs the
// server has not acknowledged yet, each held until the next (docs/protocol.md,
// "Reconciling with ack_seq"); the server's next state corrects any misprediction.
//
// window.__tickwire is a read-only debug view of the page's state (used by the
// end-to-end test and handy in the console).

import * as protocol from "./protocol.js"; // the broadcaster's decoder (docs/protocol.md)
import {
  INTERP_DELAY_MS, KIND_PLAYER, drawScene, fitCamera, interpolate, pushSnapshot, toWorld,
} from "./render.js";

// Inputs are sent when they change, at most this often (ms): the server's send rate
// (20 Hz); every message is metered on AWS, so a moving mouse must not flood.
const MIN_INPUT_INTERVAL_MS = 50;
// The server holds the last input; an unchanged, non-idle one is still re-sent this often
// (ms) so that an input the gateway failed to forward ("Internal server error" frame)
// does not leave the player moving the wrong way for long.
const KEEPALIVE_INPUT_MS = 1000;
// Reconnect backoff: full jitter, capped (AWS closes connections after 2 h, idle after 10 min).
const BACKOFF_BASE_MS = 250, BACKOFF_CAP_MS = 8000;
// Failed connects in a row before the page gives up (a refused token does not heal).
const MAX_RECONNECT_ATTEMPTS = 10;
// Visible span (world units) around the player when playing.
const PLAY_SPAN = 900;
// How often the list of running matches is refreshed (ms), when the server lists them.
const MATCHES_REFRESH_MS = 3000;
// Latency samples kept for the median shown.
const LATENCY_SAMPLES = 50;

const $ = (id) => document.getElementById(id);
const canvas = $("view");
const ctx = canvas.getContext("2d");

const state = {
  config: null,
  mode: "idle", // idle | connecting | playing | spectating
  match: "", player: "",
  ws: null, wanted: false, attempts: 0,
  world: null, snapshots: [], meta: {},
  seq: 0, ack: 0, selfId: -1, tick: -1,
  pending: [], // [{seq, move: [dx, dy], t}] not yet acknowledged
  sentAt: new Map(), latencies: [],
  keys: new Set(), mouse: null, firing: false,
  lastInput: null, lastInputAt: 0,
  followId: null,
  window: { start: performance.now(), messages: 0, bytes: 0, tick0: -1 },
  figures: { tickRate: 0, mps: 0, kbps: 0 },
  own: null, // predicted own position {x, y}
  errors: 0, reconnects: 0,
};

const debug = {};
window.__tickwire = debug;

function setStatus(text) { $("status").textContent = text; }

async function fetchToken(match, player) {
  if (!state.config.tokens) {
    const typed = $("token").value.trim();
    if (!typed) throw new Error("paste a token: this server does not issue them");
    return typed;
  }
  const q = new URLSearchParams({ match, player });
  const resp = await fetch(`/token?${q}`);
  if (!resp.ok) throw new Error(`token: ${resp.status} ${await resp.text()}`);
  return (await resp.json()).token;
}

async function start(mode) {
  stop();
  const match = $("match").value.trim();
  let player = $("player").value.trim();
  if (mode === "spectating") player = `watch-${Math.random().toString(36).slice(2, 8)}`;
  state.match = match; state.player = player; state.mode = "connecting";
  state.wanted = mode; state.attempts = 0;
  $("leave").disabled = false;
  await connect();
}

async function connect() {
  const mode = state.wanted;
  if (!mode) return;
  setStatus(`connecting to ${state.match}…`);
  let token;
  try {
    token = await fetchToken(state.match, state.player);
  } catch (err) {
    setStatus(String(err.message ?? err));
    state.mode = "idle"; state.wanted = false;
    return;
  }
  const url = `${state.config.ws_url}?token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  state.world = new protocol.World();
  state.snapshots = [];
  ws.onopen = () => {
    state.attempts = 0;
    state.mode = mode;
    state.lastInput = null;
    setStatus(mode === "spectating" ? `spectating ${state.match}` : `playing in ${state.match} as ${state.player}`);
    if (mode === "playing") canvas.focus();
  };
  ws.onmessage = (ev) => onMessage(ev.data);
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (!state.wanted) return;
    if (state.attempts >= MAX_RECONNECT_ATTEMPTS) {
      state.wanted = false; state.mode = "idle";
      $("leave").disabled = true;
      setStatus(`could not reconnect (last close ${ev.code}); press Play or Spectate to retry`);
      return;
    }
    state.mode = "connecting";
    state.reconnects += 1;
    const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** state.attempts++);
    setStatus(`connection closed (${ev.code}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
    setTimeout(connect, delay);
  };
}

function stop() {
  state.wanted = false;
  if (state.ws) { const ws = state.ws; state.ws = null; ws.close(1000); }
  state.mode = "idle";
  state.pending = []; state.sentAt.clear();
  $("leave").disabled = true;
  setStatus("not connected");
}

function onMessage(data) {
  if (typeof data === "string") {
    // The gateway's own answers ({"message": "Forbidden", ...}).
    state.errors += 1;
    console.warn("gateway:", data);
    return;
  }
  const bytes = new Uint8Array(data);
  const now = performance.now();
  let changed;
  try {
    changed = state.world.apply(bytes);
  } catch (err) {
    // A message we cannot apply: reconnect for a full state (docs/protocol.md).
    state.errors += 1;
    console.warn("undecodable state message:", err);
    if (state.ws) state.ws.close(4000, "resync");
    return;
  }
  state.window.messages += 1;
  state.window.bytes += bytes.length;
  if (state.world.replaced) {
    // This player connected again elsewhere (another tab): that one plays now.
    state.wanted = false;
    setStatus(`${state.player} connected again elsewhere; press Play to take over here`);
    if (state.ws) state.ws.close(1000, "replaced");
    return;
  }
  if (changed === false) return; // a part of a split update: wait for the rest
  const w = state.world;
  state.tick = w.tick; state.selfId = w.selfId; state.meta = w.meta;
  const ack = w.ackSeq;
  if (ack > state.ack || ack > state.seq) {
    // An ack above anything sent: the server knows this player from an earlier page.
    if (ack > state.seq) state.seq = ack;
    state.ack = ack;
    for (const [seq, t] of state.sentAt) {
      if (seq <= ack) {
        state.latencies.push(now - t);
        state.sentAt.delete(seq);
      }
    }
    while (state.latencies.length > LATENCY_SAMPLES) state.latencies.shift();
    state.pending = state.pending.filter((p) => p.seq > ack);
  }
  if (state.window.tick0 < 0) state.window.tick0 = w.tick;
  if (w.ended) {
    // The last message of a match: stop here rather than reconnect into a finished match.
    state.wanted = false;
    setStatus(`match ${state.match} ended`);
  } else if (state.mode === "playing") {
    setStatus(state.selfId < 0 ? "waiting to respawn…" : `playing in ${state.match} as ${state.player}`);
  }
  // entities(): Map id -> {kind, x, y, hp, angle, score}, positions in world units.
  pushSnapshot(state.snapshots, { t: now, tick: w.tick, ents: w.entities() });
}

function predictOwn(now) {
  const last = state.snapshots[state.snapshots.length - 1];
  if (!last || state.selfId < 0) return null;
  const base = last.ents.get(state.selfId);
  if (!base) return null;
  const speed = state.meta.max_speed;
  if (state.mode !== "playing" || typeof speed !== "number") return null;
  let x = base.x, y = base.y;
  const r = state.meta.player_radius ?? 0;
  for (let i = 0; i < state.pending.length; i++) {
    const p = state.pending[i];
    const until = i + 1 < state.pending.length ? state.pending[i + 1].t : now;
    const dt = Math.min(1000, Math.max(0, until - p.t)) / 1000;
    x += p.move[0] * speed * dt; y += p.move[1] * speed * dt;
  }
  const w = state.meta.width ?? Infinity, h = state.meta.height ?? Infinity;
  return { x: Math.min(Math.max(x, r), w - r), y: Math.min(Math.max(y, r), h - r) };
}

function currentInput(ownPos) {
  let dx = 0, dy = 0;
  const k = state.keys;
  if (k.has("KeyA") || k.has("ArrowLeft")) dx -= 1;
  if (k.has("KeyD") || k.has("ArrowRight")) dx += 1;
  if (k.has("KeyW") || k.has("ArrowUp")) dy -= 1;
  if (k.has("KeyS") || k.has("ArrowDown")) dy += 1;
  const len = Math.hypot(dx, dy);
  const move = len > 0 ? [dx / len, dy / len] : [0, 0];
  let aim = null;
  if (state.mouse && ownPos) {
    const ax = state.mouse.x - ownPos.x, ay = state.mouse.y - ownPos.y;
    const al = Math.hypot(ax, ay);
    if (al > 1e-3) aim = [ax / al, ay / al];
  }
  return { move, aim, fire: state.firing };
}

function sameInput(a, b) {
  if (!a || !b) return false;
  const near = (p, q) => (p === null && q === null) || (p !== null && q !== null &&
    Math.abs(p[0] - q[0]) < 0.03 && Math.abs(p[1] - q[1]) < 0.03);
  return a.fire === b.fire && near(a.move, b.move) && near(a.aim, b.aim);
}

function maybeSendInput(now, ownPos) {
  if (state.mode !== "playing" || !state.ws || state.ws.readyState !== WebSocket.OPEN) return;
  if (now - state.lastInputAt < MIN_INPUT_INTERVAL_MS) return;
  const inp = currentInput(ownPos);
  const idle = inp.move[0] === 0 && inp.move[1] === 0 && !inp.fire;
  if (sameInput(inp, state.lastInput) && (idle || now - state.lastInputAt < KEEPALIVE_INPUT_MS)) return;
  const seq = ++state.seq;
  const body = { action: "input", seq, move: inp.move };
  if (inp.aim) body.aim = inp.aim;
  if (inp.fire) body.fire = true;
  state.ws.send(JSON.stringify(body));
  state.sentAt.set(seq, now);
  state.pending.push({ seq, move: inp.move, t: now });
  state.lastInput = inp; state.lastInputAt = now;
}

function updateFigures(now) {
  const win = state.window;
  const elapsed = (now - win.start) / 1000;
  if (elapsed < 1) return;
  state.figures.mps = win.messages / elapsed;
  state.figures.kbps = win.bytes / 1024 / elapsed;
  state.figures.tickRate = win.tick0 >= 0 && state.tick >= win.tick0 ? (state.tick - win.tick0) / elapsed : 0;
  state.window = { start: now, messages: 0, bytes: 0, tick0: state.tick };
}

function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function frame() {
  const now = performance.now();
  const ents = new Map(interpolate(state.snapshots, now - INTERP_DELAY_MS));
  const own = predictOwn(now);
  const last = state.snapshots[state.snapshots.length - 1];
  const serverOwn = last && state.selfId >= 0 ? last.ents.get(state.selfId) : undefined;
  // The own entity is drawn predicted when the match says how fast players move, else
  // interpolated like everyone else (smooth, 100 ms behind).
  if (serverOwn && own) ents.set(state.selfId, { ...serverOwn, ...own });
  const drawn = state.selfId >= 0 ? ents.get(state.selfId) : undefined;
  const ownPos = drawn ? { x: drawn.x, y: drawn.y } : null;
  state.own = ownPos;
  maybeSendInput(now, ownPos);
  updateFigures(now);

  let centre = null;
  if (state.mode === "playing" && ownPos) centre = ownPos;
  else if (state.followId !== null && ents.has(state.followId)) centre = ents.get(state.followId);
  const cam = fitCamera(canvas, state.meta, centre, PLAY_SPAN);
  state.cam = cam;
  if (state.mouseScreen) {
    const [mx, my] = toWorld(cam, canvas, state.mouseScreen[0], state.mouseScreen[1]);
    state.mouse = { x: mx, y: my };
  }
  drawScene(ctx, { cam, meta: state.meta, ents, selfId: state.selfId, followId: state.followId });

  let players = 0;
  for (const e of ents.values()) if (e.kind === KIND_PLAYER) players++;
  const lat = median(state.latencies);
  $("f-tickrate").textContent = state.figures.tickRate.toFixed(1) + " /s";
  $("f-tick").textContent = state.tick >= 0 ? String(state.tick) : "-";
  $("f-players").textContent = String(players);
  $("f-entities").textContent = String(ents.size);
  $("f-mps").textContent = state.figures.mps.toFixed(1);
  $("f-kbps").textContent = state.figures.kbps.toFixed(2);
  $("f-latency").textContent = lat === null ? "-" : `${lat.toFixed(0)} ms`;
  $("f-you").textContent = ownPos ? `${ownPos.x.toFixed(0)}, ${ownPos.y.toFixed(0)}` : "-";

  Object.assign(debug, {
    mode: state.mode, match: state.match, player: state.player,
    tick: state.tick, seq: state.seq, ack: state.ack, selfId: state.selfId,
    own: serverOwn ? { x: serverOwn.x, y: serverOwn.y } : null,
    predicted: own, entities: ents.size, players,
    messagesPerSecond: state.figures.mps, tickRate: state.figures.tickRate,
    latencyMs: lat, snapshots: state.snapshots.length,
    errors: state.errors, reconnects: state.reconnects, meta: state.meta,
  });
  requestAnimationFrame(frame);
}

// -- input events -------------------------------------------------------------------
const GAME_KEYS = new Set(["KeyW", "KeyA", "KeyS", "KeyD", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Space"]);
canvas.addEventListener("keydown", (ev) => {
  if (!GAME_KEYS.has(ev.code)) return;
  ev.preventDefault();
  if (ev.code === "Space") state.firing = true; else state.keys.add(ev.code);
});
canvas.addEventListener("keyup", (ev) => {
  if (!GAME_KEYS.has(ev.code)) return;
  ev.preventDefault();
  if (ev.code === "Space") state.firing = false; else state.keys.delete(ev.code);
});
canvas.addEventListener("blur", () => { state.keys.clear(); state.firing = false; });
function canvasPoint(ev) {
  const rect = canvas.getBoundingClientRect();
  return [(ev.clientX - rect.left) * (canvas.width / rect.width), (ev.clientY - rect.top) * (canvas.height / rect.height)];
}
canvas.addEventListener("mousemove", (ev) => { state.mouseScreen = canvasPoint(ev); });
canvas.addEventListener("mousedown", (ev) => {
  canvas.focus();
  state.mouseScreen = canvasPoint(ev);
  if (state.mode === "playing") { state.firing = true; return; }
  // Spectators: click a player to follow it, click again (or empty space) to stop.
  if (!state.cam) return;
  const [wx, wy] = toWorld(state.cam, canvas, state.mouseScreen[0], state.mouseScreen[1]);
  const last = state.snapshots[state.snapshots.length - 1];
  let best = null, bestD = 40 / state.cam.scale;
  for (const [id, e] of last ? last.ents : []) {
    const d = Math.hypot(e.x - wx, e.y - wy);
    if (e.kind === KIND_PLAYER && d < bestD) { best = id; bestD = d; }
  }
  state.followId = best === state.followId ? null : best;
});
window.addEventListener("mouseup", () => { if (state.mode === "playing") state.firing = false; });

$("join").addEventListener("submit", (ev) => { ev.preventDefault(); start("playing"); });
$("spectate").addEventListener("click", () => start("spectating"));
$("leave").addEventListener("click", () => stop());

// The running matches, offered in the match field's pick list (join or spectate any).
async function refreshMatches() {
  try {
    const resp = await fetch("/matches.json");
    if (!resp.ok) return;
    const list = await resp.json();
    const options = list.map(({ match, players }) => {
      const o = document.createElement("option");
      o.value = match;
      o.label = `${players} player${players === 1 ? "" : "s"}`;
      return o;
    });
    $("matches").replaceChildren(...options);
    $("f-matches").textContent = String(list.length);
    debug.matches = list;
  } catch (err) {
    console.warn("matches:", err);
  }
}

async function main() {
  state.config = await (await fetch("/config.json")).json();
  $("token-label").hidden = state.config.tokens;
  $("player").value = `player-${Math.random().toString(36).slice(2, 7)}`;
  const params = new URLSearchParams(location.search);
  if (params.get("match")) $("match").value = params.get("match");
  if (params.get("player")) $("player").value = params.get("player");
  Object.assign(debug, { ready: true, mode: "idle", start, stop });
  requestAnimationFrame(frame);
  if (state.config.matches) {
    refreshMatches();
    setInterval(refreshMatches, MATCHES_REFRESH_MS);
  }
  if (params.get("spectate") !== null) start("spectating");
  else if (params.get("play") !== null) start("playing");
}

main().catch((err) => { setStatus(`failed to start: ${err}`); console.error(err); });
