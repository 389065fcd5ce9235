// Drawing and interpolation for the tickwire page: pure functions of the data they get.
//
// Interpolation: every applied state message becomes a snapshot {t, tick, ents} where t is
// the browser's receive time (performance.now(), ms). The page draws the world as it was
// INTERP_DELAY_MS ago, blending the two snapshots around that moment, so entities move
// smoothly between 20 Hz states even when messages arrive unevenly. An entity present in
// only one of the two is drawn where that snapshot has it (it just appeared or left).

export const INTERP_DELAY_MS = 100;
// Snapshots kept: one second at 20 Hz is plenty for a 100 ms delay plus jitter.
export const MAX_SNAPSHOTS = 40;

export const KIND_PLAYER = 0;
export const KIND_PROJECTILE = 1;

export function pushSnapshot(buffer, snap) {
  buffer.push(snap);
  while (buffer.length > MAX_SNAPSHOTS) buffer.shift();
}

// The entities at renderTime: Map id -> {kind, x, y, hp, angle, score}.
export function interpolate(buffer, renderTime) {
  if (buffer.length === 0) return new Map();
  if (renderTime <= buffer[0].t) return buffer[0].ents;
  const last = buffer[buffer.length - 1];
  if (renderTime >= last.t) return last.ents;
  let i = buffer.length - 2;
  while (i > 0 && buffer[i].t > renderTime) i--;
  const a = buffer[i], b = buffer[i + 1];
  const k = (renderTime - a.t) / Math.max(1e-6, b.t - a.t);
  const out = new Map();
  for (const [id, eb] of b.ents) {
    const ea = a.ents.get(id);
    if (ea === undefined) { out.set(id, eb); continue; }
    out.set(id, { ...eb, x: ea.x + (eb.x - ea.x) * k, y: ea.y + (eb.y - ea.y) * k });
  }
  return out;
}

// A camera maps world units to canvas pixels: centre (cx, cy) and scale (px per unit).
export function fitCamera(canvas, meta, centre, span) {
  const w = meta.width ?? 1600, h = meta.height ?? 1600;
  if (centre !== null && !hasField(meta)) {
    // Rules that declare no field size: follow the centre, no clamping to a border.
    const scale = Math.min(canvas.width, canvas.height) / span;
    return { cx: centre.x, cy: centre.y, scale };
  }
  if (centre === null) {
    const scale = Math.min(canvas.width / w, canvas.height / h) * 0.96;
    return { cx: w / 2, cy: h / 2, scale };
  }
  const scale = Math.min(canvas.width, canvas.height) / span;
  // Follow the centre, but never show more than a margin of the void outside the arena.
  const clamp = (c, half, size) => (2 * half >= size ? size / 2 : Math.min(Math.max(c, half), size - half));
  const margin = 40; // world units
  return {
    cx: clamp(centre.x, canvas.width / 2 / scale - margin, w),
    cy: clamp(centre.y, canvas.height / 2 / scale - margin, h),
    scale,
  };
}

export function toScreen(cam, canvas, x, y) {
  return [canvas.width / 2 + (x - cam.cx) * cam.scale, canvas.height / 2 + (y - cam.cy) * cam.scale];
}

export function toWorld(cam, canvas, px, py) {
  return [cam.cx + (px - canvas.width / 2) / cam.scale, cam.cy + (py - canvas.height / 2) / cam.scale];
}

// Whether the match's meta declares its field (the arena's width and height): only then
// are the grid and the border drawn, since other rules' worlds may have neither.
export function hasField(meta) {
  return typeof meta.width === "number" && typeof meta.height === "number";
}

function colourFor(id) {
  const hue = (id * 137.508) % 360; // golden angle: neighbouring ids get distinct hues
  return `hsl(${hue}, 65%, 58%)`;
}

export function drawScene(ctx, scene) {
  const { canvas } = ctx;
  const { cam, meta, ents, selfId, followId } = scene;
  ctx.fillStyle = "#0b0e13";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (hasField(meta)) {
    const w = meta.width, h = meta.height;
    // Grid every 100 units, then the border (the walls follow).
    ctx.strokeStyle = "#161c25";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let gx = 0; gx <= w; gx += 100) {
      const [x0, y0] = toScreen(cam, canvas, gx, 0), [x1, y1] = toScreen(cam, canvas, gx, h);
      ctx.moveTo(x0, y0); ctx.lineTo(x1, y1);
    }
    for (let gy = 0; gy <= h; gy += 100) {
      const [x0, y0] = toScreen(cam, canvas, 0, gy), [x1, y1] = toScreen(cam, canvas, w, gy);
      ctx.moveTo(x0, y0); ctx.lineTo(x1, y1);
    }
    ctx.stroke();
    const [bx, by] = toScreen(cam, canvas, 0, 0);
    ctx.strokeStyle = "#4a5566";
    ctx.lineWidth = 3;
    ctx.strokeRect(bx, by, w * cam.scale, h * cam.scale);
  }
  ctx.fillStyle = "#39424f";
  for (const [x0, y0, x1, y1] of meta.walls ?? []) {
    const [sx, sy] = toScreen(cam, canvas, x0, y0);
    ctx.fillRect(sx, sy, (x1 - x0) * cam.scale, (y1 - y0) * cam.scale);
  }
  const radius = (meta.player_radius ?? 16) * cam.scale;
  const maxHp = meta.max_hp ?? 100;
  for (const [id, e] of ents) {
    const [sx, sy] = toScreen(cam, canvas, e.x, e.y);
    if (e.kind === KIND_PROJECTILE) {
      ctx.fillStyle = "#ffd54f";
      ctx.beginPath();
      ctx.arc(sx, sy, Math.max(2, radius * 0.25), 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    const mine = id === selfId;
    ctx.fillStyle = mine ? "#4fc3f7" : colourFor(id);
    ctx.beginPath();
    ctx.arc(sx, sy, Math.max(3, radius), 0, 2 * Math.PI);
    ctx.fill();
    if (mine || id === followId) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 2;
      ctx.stroke();
    }
    // Aim: angle is in 256ths of a turn.
    const a = ((e.angle ?? 0) / 256) * 2 * Math.PI;
    ctx.strokeStyle = "#dde3ea";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(sx, sy);
    ctx.lineTo(sx + Math.cos(a) * radius * 1.6, sy + Math.sin(a) * radius * 1.6);
    ctx.stroke();
    // Hit points bar and score.
    const frac = Math.max(0, Math.min(1, (e.hp ?? maxHp) / maxHp));
    ctx.fillStyle = "#3b1f24";
    ctx.fillRect(sx - radius, sy - radius - 8, radius * 2, 4);
    ctx.fillStyle = frac > 0.3 ? "#66bb6a" : "#ef5350";
    ctx.fillRect(sx - radius, sy - radius - 8, radius * 2 * frac, 4);
    ctx.fillStyle = "#9aa5b1";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(`${mine ? "you" : "#" + id} · ${e.score ?? 0}`, sx, sy + radius + 13);
  }
}
