/**
 * Tiles as the wasm build computes them: wasm's f64.min/f64.max order −0 below +0, unlike the SIMD lanes, so a min or
 * max cell must not depend on which path (lanes, or per value beside a NaN) a piece of a row took.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WasmCore, type TileReducer } from '../../extension/engine/wasmCore';

const core = WasmCore.load(readFileSync(join(__dirname, '../../dist/weightscope.wasm')));
const MATRIX = [0, -0, NaN, -0, 0, -0, 0, 0, -0, 0, -0, 0, NaN, 0, -0, -0];
const BYTES = new Uint8Array(new Float64Array(MATRIX).buffer);

function tile(reducer: TileReducer, chunkBytes: number): number[] {
  const job = core.beginTile('F64', { cols: 8, rows: [0, 2], columns: [0, 8], size: [1, 8], outRows: [0, 1], reducer, segment: [0, 8], skip: 0 });
  try {
    for (let at = 0; at < BYTES.length; at += chunkBytes) {
      const part = BYTES.subarray(at, at + chunkBytes);
      core.input(part.length).set(part);
      job.push();
    }
    job.endPass();
    return [...job.result().values];
  } finally {
    job.dispose();
  }
}

test('min and max tiles of ±0 beside NaN are the same bits whatever the chunking', () => {
  for (const reducer of ['min', 'max'] as const) {
    const whole = tile(reducer, BYTES.length);
    for (const chunk of [8, 16, 24, 40, 64]) {
      const got = tile(reducer, chunk);
      const text = (values: number[]): string => values.map((v) => (Object.is(v, -0) ? '-0' : String(v))).join(' ');
      assert.equal(text(got), text(whole), `${reducer} in ${chunk}-byte chunks`);
    }
  }
});
