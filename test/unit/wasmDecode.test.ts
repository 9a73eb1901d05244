/**
 * The decoders as the wasm build runs them (SIMD128 paths included), against straightforward TypeScript
 * references: every F16 and BF16 pattern, every pattern of each 8-bit float type.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WasmCore } from '../../extension/engine/wasmCore';

const core = WasmCore.load(readFileSync(join(__dirname, '../../dist/weightscope.wasm')));

function decode(dtype: string, bytes: Uint8Array): Float64Array {
  const job = core.beginDecode(dtype);
  try {
    core.input(bytes.length).set(bytes);
    return job.decode();
  } finally {
    job.dispose();
  }
}

function minifloat(bits: number, exponentBits: number, mantissaBits: number, bias: number): number {
  const sign = (bits >> (exponentBits + mantissaBits)) & 1 ? -1 : 1;
  const e = (bits >> mantissaBits) & ((1 << exponentBits) - 1);
  const m = bits & ((1 << mantissaBits) - 1);
  if (e === 0) return sign * (m / 2 ** mantissaBits) * 2 ** (1 - bias);
  return sign * (1 + m / 2 ** mantissaBits) * 2 ** (e - bias);
}

function same(actual: number, expected: number): boolean {
  return Object.is(actual, expected) || (Number.isNaN(actual) && Number.isNaN(expected));
}

function allPatterns16(): Uint8Array {
  return new Uint8Array(Uint16Array.from({ length: 65536 }, (_, i) => i).buffer);
}

test('every F16 pattern decodes as IEEE binary16', () => {
  const values = decode('F16', allPatterns16());
  for (let p = 0; p < 65536; p++) {
    const e = (p >> 10) & 31;
    const want = e === 31 ? ((p & 1023) === 0 ? (p >> 15 ? -Infinity : Infinity) : NaN) : minifloat(p, 5, 10, 15);
    assert.ok(same(values[p]!, want), `F16 ${p.toString(16)}: ${values[p]} vs ${want}`);
  }
});

test('every BF16 pattern decodes as the top half of an f32', () => {
  const values = decode('BF16', allPatterns16());
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let p = 0; p < 65536; p++) {
    u32[0] = p << 16;
    assert.ok(same(values[p]!, f32[0]!), `BF16 ${p.toString(16)}`);
  }
});

test('every FP8 pattern decodes by its format definition', () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const e4m3 = decode('F8_E4M3', bytes);
  const e5m2 = decode('F8_E5M2', bytes);
  const e8m0 = decode('F8_E8M0', bytes);
  for (let b = 0; b < 256; b++) {
    assert.ok(same(e4m3[b]!, (b & 0x7f) === 0x7f ? NaN : minifloat(b, 4, 3, 7)), `E4M3 ${b}`);
    const e = (b >> 2) & 31;
    assert.ok(same(e5m2[b]!, e === 31 ? ((b & 3) === 0 ? (b >> 7 ? -Infinity : Infinity) : NaN) : minifloat(b, 5, 2, 15)), `E5M2 ${b}`);
    assert.ok(same(e8m0[b]!, b === 255 ? NaN : 2 ** (b - 127)), `E8M0 ${b}`);
  }
  assert.equal(e4m3[0x7e], 448);
});

test('F32 decodes exactly, including an odd tail after the SIMD groups of four', () => {
  const values = Float32Array.from([1.5, -0, 3.4028234663852886e38, 1e-45, -7.25, Infinity, NaN]);
  const decoded = decode('F32', new Uint8Array(values.buffer));
  values.forEach((v, i) => assert.ok(same(decoded[i]!, v), `F32 ${i}`));
});
