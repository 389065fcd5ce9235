// Replays messages made by the Python encoder through tickwire/web/protocol.js and checks
// the world after each against what broadcaster.client_state.WorldView holds (driven by
// test_protocol_js.py, which writes the cases file named by TICKWIRE_PROTOCOL_CASES).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { World, ProtocolError, peekHeader } from "../../tickwire/web/protocol.js";

const cases = JSON.parse(readFileSync(process.env.TICKWIRE_PROTOCOL_CASES, "utf8"));
const bytes = (b64) => new Uint8Array(Buffer.from(b64, "base64"));

test("worlds match the Python WorldView after every message", () => {
  for (const [c, kase] of cases.sequences.entries()) {
    const world = new World();
    kase.messages.forEach((msg, i) => {
      const want = kase.after[i];
      const changed = world.apply(bytes(msg));
      assert.equal(changed, want.changed, `case ${c} message ${i}: changed`);
      assert.equal(peekHeader(bytes(msg)).tick, want.header_tick);
      if (!want.changed) return;
      assert.deepEqual(world.ids, want.ids, `case ${c} message ${i}: ids`);
      for (const [name, col] of Object.entries(want.columns)) {
        assert.deepEqual(world.columns.get(name), col, `case ${c} message ${i}: column ${name}`);
      }
      assert.equal(world.columns.size, Object.keys(want.columns).length);
      assert.equal(world.tick, want.tick);
      assert.equal(world.ackSeq, want.ack_seq);
      assert.equal(world.dropped, want.dropped);
      assert.equal(world.droppedSeq, want.dropped_seq);
      assert.equal(world.selfId, want.self_id);
      assert.equal(world.ended, want.ended);
      assert.deepEqual(world.meta, want.meta);
      const ents = world.entities();
      assert.equal(ents.size, want.ids.length);
      if (want.ids.length) {
        const first = ents.get(want.ids[0]);
        assert.equal(first.x, want.columns.x[0] / world.scale);
      }
    });
  }
});

test("bad input throws ProtocolError with a reason", () => {
  for (const bad of cases.bad) {
    assert.throws(() => new World().apply(bytes(bad.data)), (err) => {
      assert.ok(err instanceof ProtocolError, `${bad.what}: ${err}`);
      assert.ok(err.reason.length > 0);
      return true;
    }, bad.what);
  }
});

test("a REPLACED message changes nothing and marks the world replaced", () => {
  const world = new World();
  world.apply(bytes(cases.sequences[0].messages[0]));
  const tick = world.tick;
  assert.equal(world.apply(bytes(cases.replaced)), false);
  assert.equal(world.replaced, true);
  assert.equal(world.tick, tick);
});

test("a delta against another tick is refused and leaves the world unchanged", () => {
  const kase = cases.sequences[0];
  const world = new World();
  world.apply(bytes(kase.messages[0]));
  const before = world.tick;
  assert.throws(() => world.apply(bytes(kase.messages[2])), ProtocolError);
  assert.equal(world.tick, before);
});
