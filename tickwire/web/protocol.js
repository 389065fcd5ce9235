// tickwire state protocol, version 2: the browser's decoder (docs/protocol.md). Version 1
// messages (a 24-byte header without dropped/droppedSeq) are still read.
//
// An ES module with no dependencies and no build step: a small msgpack decoder, the
// header peek, and `World`, which applies full states, deltas (with motion prediction)
// and split updates exactly like the Python reference `broadcaster.client_state.WorldView`.
//
//   import { World } from "./protocol.js";
//   const world = new World();
//   ws.binaryType = "arraybuffer";
//   ws.onmessage = (e) => { if (world.apply(new Uint8Array(e.data))) draw(world.entities()); };

export const PROTOCOL_VERSION = 2;
export const FLAG_FULL = 0x01;
export const FLAG_ENDED = 0x02;
// The player connected again elsewhere: this connection is closing; do not reconnect.
export const FLAG_REPLACED = 0x04;
export const HEADER_SIZE = 32;
const V1_HEADER_SIZE = 24;
const HEADER_OFFSET = 3;
const POSITION_COLUMNS = ["x", "y"];
const XY = "xy";

export class ProtocolError extends Error {
  constructor(reason) {
    super(reason);
    this.name = "ProtocolError";
    this.reason = reason;
  }
}

// -- msgpack ------------------------------------------------------------------------------
const utf8 = new TextDecoder("utf-8", { fatal: true });

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
    this.depth = 0;
  }

  need(n) {
    if (this.pos + n > this.bytes.length) throw new ProtocolError("truncated msgpack");
  }

  u8() { this.need(1); return this.bytes[this.pos++]; }
  u16() { this.need(2); const v = this.view.getUint16(this.pos); this.pos += 2; return v; }
  u32() { this.need(4); const v = this.view.getUint32(this.pos); this.pos += 4; return v; }

  raw(n) {
    this.need(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  str(n) {
    try {
      return utf8.decode(this.raw(n));
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      throw new ProtocolError("invalid UTF-8 in a msgpack string");
    }
  }

  array(n) {
    if (++this.depth > 64) throw new ProtocolError("msgpack nested too deeply");
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.value();
    this.depth--;
    return out;
  }

  map(n) {
    if (++this.depth > 64) throw new ProtocolError("msgpack nested too deeply");
    const out = new Map();
    for (let i = 0; i < n; i++) {
      const k = this.value();
      out.set(k, this.value());
    }
    this.depth--;
    return out;
  }

  value() {
    const b = this.u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xf0) === 0x80) return this.map(b & 0x0f);
    if ((b & 0xf0) === 0x90) return this.array(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return this.str(b & 0x1f);
    const v = this.view;
    let x;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.raw(this.u8());
      case 0xc5: return this.raw(this.u16());
      case 0xc6: return this.raw(this.u32());
      case 0xca: this.need(4); x = v.getFloat32(this.pos); this.pos += 4; return x;
      case 0xcb: this.need(8); x = v.getFloat64(this.pos); this.pos += 8; return x;
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: this.need(8); x = Number(v.getBigUint64(this.pos)); this.pos += 8; return x;
      case 0xd0: this.need(1); x = v.getInt8(this.pos); this.pos += 1; return x;
      case 0xd1: this.need(2); x = v.getInt16(this.pos); this.pos += 2; return x;
      case 0xd2: this.need(4); x = v.getInt32(this.pos); this.pos += 4; return x;
      case 0xd3: this.need(8); x = Number(v.getBigInt64(this.pos)); this.pos += 8; return x;
      case 0xd9: return this.str(this.u8());
      case 0xda: return this.str(this.u16());
      case 0xdb: return this.str(this.u32());
      case 0xdc: return this.array(this.u16());
      case 0xdd: return this.array(this.u32());
      case 0xde: return this.map(this.u16());
      case 0xdf: return this.map(this.u32());
      default: throw new ProtocolError(`unsupported msgpack type 0x${b.toString(16)}`);
    }
  }
}

/** Decode one msgpack value that fills `bytes` exactly (maps become `Map`s). */
export function unpack(bytes) {
  const r = new Reader(bytes);
  const value = r.value();
  if (r.pos !== bytes.length) throw new ProtocolError("trailing bytes after msgpack value");
  return value;
}

// -- header -------------------------------------------------------------------------------
/** The fixed header of a message or part, read at byte offset 3 without decoding. */
export function peekHeader(bytes) {
  const size = bytes[2];
  if (bytes[1] !== 0xc4 || (size !== HEADER_SIZE && size !== V1_HEADER_SIZE) || bytes.length < HEADER_OFFSET + size) {
    throw new ProtocolError("not a tickwire state message (bad header marker)");
  }
  if ((bytes[0] & 0xf0) !== 0x90) throw new ProtocolError("not a tickwire state message (not an array)");
  const v = new DataView(bytes.buffer, bytes.byteOffset + HEADER_OFFSET, size);
  const version = v.getUint8(0);
  if (!(version === PROTOCOL_VERSION && size === HEADER_SIZE) && !(version === 1 && size === V1_HEADER_SIZE)) {
    throw new ProtocolError(`unsupported protocol version ${version}`);
  }
  const flags = v.getUint8(1);
  const partIndex = v.getUint16(2, true);
  const partCount = v.getUint16(4, true);
  if (partCount === 0 || partIndex >= partCount) throw new ProtocolError(`bad part ${partIndex} of ${partCount}`);
  return {
    version,
    full: (flags & FLAG_FULL) !== 0,
    ended: (flags & FLAG_ENDED) !== 0,
    replaced: (flags & FLAG_REPLACED) !== 0,
    partIndex,
    partCount,
    scale: v.getUint16(6, true),
    tick: v.getUint32(8, true),
    ackSeq: v.getUint32(12, true),
    baseTick: v.getUint32(16, true),
    selfId: v.getInt32(20, true),
    // The player's inputs the server refused unapplied (ackSeq does not cover them).
    dropped: size === HEADER_SIZE ? v.getUint32(24, true) : 0,
    droppedSeq: size === HEADER_SIZE ? v.getUint32(28, true) : 0,
  };
}

// -- bodies -------------------------------------------------------------------------------
const DTYPES = {
  i1: [1, (v, o) => v.getInt8(o)],
  u1: [1, (v, o) => v.getUint8(o)],
  i2: [2, (v, o) => v.getInt16(o, true)],
  u2: [2, (v, o) => v.getUint16(o, true)],
  i4: [4, (v, o) => v.getInt32(o, true)],
  u4: [4, (v, o) => v.getUint32(o, true)],
  i8: [8, (v, o) => Number(v.getBigInt64(o, true))],
  u8: [8, (v, o) => Number(v.getBigUint64(o, true))],
};

function column(value, what) {
  if (!Array.isArray(value) || value.length !== 2) throw new ProtocolError(`${what}: expected [dtype, bin]`);
  const [code, raw] = value;
  const dt = DTYPES[code];
  if (!dt || !(raw instanceof Uint8Array)) throw new ProtocolError(`${what}: bad dtype ${code} or data`);
  const [size, get] = dt;
  if (raw.length % size) throw new ProtocolError(`${what}: ${raw.length} bytes is not a whole number of ${code}`);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Array(raw.length / size);
  for (let i = 0; i < out.length; i++) out[i] = get(v, i * size);
  return { code, values: out };
}

function decodeBody(items) {
  const [addsRaw, removedRaw, changesRaw, meta] = items;
  let adds = null;
  if (addsRaw !== null) {
    if (!(addsRaw instanceof Map) || !addsRaw.has("id")) throw new ProtocolError("adds: expected a column map with 'id'");
    const ids = column(addsRaw.get("id"), "adds.id");
    if (!["u1", "u2", "u4"].includes(ids.code)) throw new ProtocolError("adds.id: must be u1, u2 or u4");
    const columns = new Map();
    for (const [name, value] of addsRaw) {
      if (name === "id") continue;
      const col = column(value, `adds.${name}`).values;
      if (col.length !== ids.values.length) {
        throw new ProtocolError(`adds.${name}: ${col.length} rows, expected ${ids.values.length}`);
      }
      columns.set(String(name), col);
    }
    adds = { ids: ids.values, columns };
  }
  let removed = null;
  if (removedRaw !== null) {
    if (!(removedRaw instanceof Uint8Array) || removedRaw.length % 4) throw new ProtocolError("removed: expected a bin of uint32");
    removed = column(["u4", removedRaw], "removed").values;
  }
  const changes = new Map();
  if (changesRaw !== null) {
    if (!(changesRaw instanceof Map)) throw new ProtocolError("changes: expected a map");
    for (const [name, value] of changesRaw) {
      if (!Array.isArray(value) || value.length !== 3) throw new ProtocolError(`changes.${name}: expected [mask, dtype, bin]`);
      const values = column(value.slice(1), `changes.${name}`).values;
      let mask = null;
      if (value[0] !== null) {
        if (!(value[0] instanceof Uint8Array)) throw new ProtocolError(`changes.${name}: mask must be bin or nil`);
        mask = [];
        for (let i = 0; i < value[0].length * 8; i++) mask.push((value[0][i >> 3] >> (i & 7)) & 1);
        const width = name === XY ? 2 : 1;
        if (mask.reduce((a, b) => a + b, 0) * width !== values.length) {
          throw new ProtocolError(`changes.${name}: mask and values disagree`);
        }
      }
      changes.set(String(name), { mask, values });
    }
  }
  if (meta !== null && !(meta instanceof Map)) throw new ProtocolError("meta: expected a map");
  return { adds, removed, changes, meta: meta === null ? null : mapToObject(meta) };
}

function mapToObject(value) {
  if (value instanceof Map) {
    const out = {};
    for (const [k, v] of value) out[String(k)] = mapToObject(v);
    return out;
  }
  if (Array.isArray(value)) return value.map(mapToObject);
  return value;
}

/** Decode one message or part: `{header, update}` or, for a part, `{header, chunk}`. */
export function decodeMessage(bytes) {
  const header = peekHeader(bytes);
  const items = unpack(bytes);
  if (!Array.isArray(items)) throw new ProtocolError("message: expected an array");
  if (header.partCount > 1) {
    if (items.length !== 2 || !(items[1] instanceof Uint8Array)) throw new ProtocolError("part: expected [header, chunk]");
    return { header, update: null, chunk: items[1] };
  }
  if (items.length !== 5) throw new ProtocolError("message: expected [header, adds, removed, changes, meta]");
  return { header, update: decodeBody(items.slice(1)), chunk: null };
}

/** Decode the joined chunks of a split update. */
export function decodeUpdateBody(bytes) {
  const items = unpack(bytes);
  if (!Array.isArray(items) || items.length !== 4) throw new ProtocolError("body: expected [adds, removed, changes, meta]");
  return decodeBody(items);
}

// -- the world ----------------------------------------------------------------------------
/** Floor division as the server does it (exact for the magnitudes involved). */
function predict(d, gap, lastGap) {
  return Math.floor((d * gap) / Math.max(lastGap, 1));
}

/** Entities a player can see, rebuilt from state messages (docs/protocol.md). */
export class World {
  constructor() {
    this.tick = -1; // -1: no full state applied yet
    this.ackSeq = 0;
    this.dropped = 0; // inputs the server refused unapplied, and the latest one's seq
    this.droppedSeq = 0;
    this.replaced = false; // closed for a newer connection of the same player
    this.selfId = -1;
    this.scale = 1;
    this.ended = false;
    this.meta = {};
    this.messages = 0;
    this.ids = []; // ascending
    this.columns = new Map(); // name -> quantised integers, aligned with ids
    this.vel = []; // [dx, dy] per row: the last displacement (motion prediction)
    this.gap = 1;
    this._parts = [];
    this._partsHeader = null;
    this._cache = null;
  }

  get size() { return this.ids.length; }

  /** Apply one message or part; true when the world moved to a new tick. */
  apply(bytes) {
    const msg = decodeMessage(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
    if (msg.header.replaced) {
      this.replaced = true; // carries no state; the connection is closing
      return false;
    }
    let update = msg.update;
    if (msg.header.partCount > 1) {
      update = this._collect(msg.header, msg.chunk);
      if (update === null) return false;
    }
    this._applyUpdate(msg.header, update);
    return true;
  }

  _collect(header, chunk) {
    if (header.partIndex === 0) { this._parts = []; this._partsHeader = header; }
    const first = this._partsHeader;
    if (first === null || first.tick !== header.tick || first.partCount !== header.partCount ||
        header.partIndex !== this._parts.length) {
      // A part that does not continue the buffer: its update was abandoned by the sender.
      this._parts = []; this._partsHeader = null;
      return null;
    }
    this._parts.push(chunk);
    if (this._parts.length < header.partCount) return null;
    const total = this._parts.reduce((n, c) => n + c.length, 0);
    const body = new Uint8Array(total);
    let at = 0;
    for (const c of this._parts) { body.set(c, at); at += c.length; }
    this._parts = []; this._partsHeader = null;
    return decodeUpdateBody(body);
  }

  _applyUpdate(header, update) {
    let ids, cols, vel, gap;
    if (header.full) {
      ids = []; cols = new Map(); vel = []; gap = 1;
    } else {
      if (this.tick < 0) throw new ProtocolError("delta before any full state");
      if (header.baseTick !== this.tick) {
        throw new ProtocolError(`delta against tick ${header.baseTick}, world is at tick ${this.tick}`);
      }
      ids = this.ids; cols = new Map(this.columns); vel = this.vel;
      gap = Math.max(header.tick - header.baseTick, 0);
    }
    if (update.removed !== null && update.removed.length) {
      const gone = new Set(update.removed);
      const keep = ids.map((id) => !gone.has(id));
      ids = ids.filter((_, i) => keep[i]);
      vel = vel.filter((_, i) => keep[i]);
      for (const [name, col] of cols) cols.set(name, col.filter((_, i) => keep[i]));
    }
    const n = ids.length;
    // Every kept entity moves by its predicted displacement; the xy change corrects it.
    const moved = header.full ? [] : vel.map(([dx, dy]) => [predict(dx, gap, this.gap), predict(dy, gap, this.gap)]);
    for (const [name, ch] of update.changes) {
      const width = name === XY ? 2 : 1;
      if (name === XY) {
        if (!cols.has("x") || !cols.has("y")) throw new ProtocolError("changes.xy: the world has no positions");
      } else if (!cols.has(name) || POSITION_COLUMNS.includes(name)) {
        throw new ProtocolError(`changes.${name}: no such column`);
      }
      let rows;
      if (ch.mask === null) {
        rows = [...Array(n).keys()];
      } else {
        if (ch.mask.length < n || ch.mask.slice(n).some((b) => b)) {
          throw new ProtocolError(`changes.${name}: mask does not fit ${n} rows`);
        }
        rows = [];
        for (let i = 0; i < n; i++) if (ch.mask[i]) rows.push(i);
      }
      if (ch.values.length !== rows.length * width) {
        throw new ProtocolError(`changes.${name}: ${ch.values.length} values for ${rows.length} rows`);
      }
      if (name === XY) {
        rows.forEach((r, j) => {
          moved[r][0] += ch.values[2 * j];
          moved[r][1] += ch.values[2 * j + 1];
        });
      } else {
        const col = cols.get(name).slice();
        rows.forEach((r, j) => { col[r] = ch.values[j]; });
        cols.set(name, col);
      }
    }
    if (n && cols.has("x") && cols.has("y")) {
      cols.set("x", cols.get("x").map((x, i) => x + moved[i][0]));
      cols.set("y", cols.get("y").map((y, i) => y + moved[i][1]));
    }
    vel = header.full ? [] : moved;
    if (update.adds !== null && update.adds.ids.length) {
      const add = update.adds;
      const have = new Set(ids);
      if (add.ids.some((id) => have.has(id)) || new Set(add.ids).size !== add.ids.length) {
        throw new ProtocolError("adds: an id the world already has");
      }
      const m = add.ids.length;
      const names = new Set([...cols.keys(), ...add.columns.keys()]);
      const allIds = ids.concat(add.ids);
      const order = [...allIds.keys()].sort((a, b) => allIds[a] - allIds[b]);
      const merged = new Map();
      for (const name of names) {
        const col = (cols.get(name) ?? new Array(n).fill(0)).concat(add.columns.get(name) ?? new Array(m).fill(0));
        merged.set(name, order.map((i) => col[i]));
      }
      const allVel = vel.concat(add.ids.map(() => [0, 0]));
      ids = order.map((i) => allIds[i]);
      vel = order.map((i) => allVel[i]);
      cols = merged;
    }
    this.ids = ids; this.columns = cols; this.vel = vel; this.gap = Math.max(gap, 1);
    this.tick = header.tick; this.ackSeq = header.ackSeq; this.selfId = header.selfId;
    this.dropped = header.dropped; this.droppedSeq = header.droppedSeq;
    this.scale = header.scale || 1;
    this.ended = header.ended;
    if (header.full) this.meta = update.meta ?? {};
    this.messages += 1;
    this._cache = null;
  }

  /** Map id -> {kind, x, y, <fields>}, positions in world units (cached per tick). */
  entities() {
    if (this._cache === null) {
      const out = new Map();
      const names = [...this.columns.keys()];
      this.ids.forEach((id, i) => {
        const e = {};
        for (const name of names) {
          const v = this.columns.get(name)[i];
          e[name] = POSITION_COLUMNS.includes(name) ? v / this.scale : v;
        }
        out.set(id, e);
      });
      this._cache = out;
    }
    return this._cache;
  }

  /** The player's own entity, if it has one in view. */
  own() {
    return this.selfId >= 0 ? this.entities().get(this.selfId) ?? null : null;
  }
}
