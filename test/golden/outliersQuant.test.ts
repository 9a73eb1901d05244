/**
 * Golden numbers for `tile`, `outliers` and `quant`: the CLI against the independent float64 references in
 * reference_quant.py (numpy) on seeded fixtures with planted outlier channels and a planted super weight, against
 * gguf-py's own Q8_0/Q4_0 quantizers when the `gguf` package is installed, and on the real safetensors files in
 * ../shared/checkpoints.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ReferenceScript, cliJson, missingPython, sharedCheckpoints } from './harness';

const reference = new ReferenceScript('reference_quant.py');
const SCHEMES = ['int8-sym-row', 'int8-sym-g128', 'int4-sym-g32', 'int4-asym-g128', 'int4-asym-g64', 'int3-asym-g64', 'q8_0', 'q4_0', 'fp8-e4m3-tensor', 'fp8-e4m3-row', 'mxfp4', 'nvfp4'];

const noNumpy = missingPython('numpy');
const noGguf = missingPython('numpy', 'gguf');

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const weightscope = (...args: string[]): Json => cliJson(...args);
const referenceOf = (...args: string[]): Json => reference.json(...args);
const planted = (): string => join(reference.fixtures(), 'planted.safetensors');

function close(a: number | null, b: number | null, relative: number): boolean {
  if (a === null || b === null) return a === b;
  return Math.abs(a - b) <= relative * Math.max(Math.abs(b), Number.MIN_VALUE);
}

/** Differences between two outliers documents: ratios, RMS and z to 1e-9, everything else exact. */
function compareOutliers(where: string, got: Json, want: Json): string[] {
  const problems: string[] = [];
  const check = (what: string, ok: boolean, a: unknown, b: unknown): void => {
    if (!ok) problems.push(`${where} ${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
  };
  check('tensor names', JSON.stringify(got.tensors.map((t: Json) => t.name)) === JSON.stringify(want.tensors.map((t: Json) => t.name)), got.tensors.length, want.tensors.length);
  for (const [i, g] of got.tensors.entries()) {
    const w = want.tensors[i];
    if (!w || w.name !== g.name) continue;
    check(`${g.name} keys`, JSON.stringify(Object.keys(g)) === JSON.stringify(['name', 'shape', 'row_outlier_ratio', 'col_outlier_ratio', 'top_rows', 'top_cols', 'top_scalars']), Object.keys(g), null);
    check(`${g.name} shape`, JSON.stringify(g.shape) === JSON.stringify(w.shape), g.shape, w.shape);
    check(`${g.name} row ratio`, close(g.row_outlier_ratio, w.row_outlier_ratio, 1e-12), g.row_outlier_ratio, w.row_outlier_ratio);
    check(`${g.name} col ratio`, close(g.col_outlier_ratio, w.col_outlier_ratio, 1e-12), g.col_outlier_ratio, w.col_outlier_ratio);
    for (const list of ['top_rows', 'top_cols'] as const) {
      check(`${g.name} ${list}`, g[list].length === w[list].length && g[list].every((c: Json, k: number) =>
        c.index === w[list][k].index && c.absmax === w[list][k].absmax && close(c.rms, w[list][k].rms, 1e-12)), g[list], w[list]);
    }
    check(`${g.name} top_scalars`, g.top_scalars.length === w.top_scalars.length && g.top_scalars.every((s: Json, k: number) => {
      const r = w.top_scalars[k];
      return s.row === r.row && s.col === r.col && s.value === r.value && close(s.z, r.z, 1e-9);
    }), g.top_scalars, w.top_scalars);
  }
  check('super_weight_candidates', JSON.stringify(got.super_weight_candidates) === JSON.stringify(want.super_weight_candidates), got.super_weight_candidates, want.super_weight_candidates);
  return problems;
}

/** Differences between two quant documents: MSE and SQNR to 1e-9, max |error| exact. */
function compareQuant(where: string, got: Json, want: Json): string[] {
  const problems: string[] = [];
  const key = (t: Json): string => `${t.name} ${t.scheme}`;
  assert.deepEqual(got.tensors.map(key), want.tensors.map(key), `${where}: (tensor, scheme) entries`);
  const same = (g: Json, w: Json): boolean => close(g.mse, w.mse, 1e-9) && close(g.sqnr_db, w.sqnr_db, 1e-9) && g.max_abs_err === w.max_abs_err;
  got.tensors.forEach((g: Json, i: number) => {
    const w = want.tensors[i];
    if (!same(g, w)) problems.push(`${where} ${key(g)}: got ${JSON.stringify(g)}, want ${JSON.stringify(w)}`);
    (g.kept ?? []).forEach((k: Json, j: number) => {
      if (!same(k, w.kept[j]) || k.fraction !== w.kept[j].fraction) problems.push(`${where} ${key(g)} kept ${k.fraction}: got ${JSON.stringify(k)}, want ${JSON.stringify(w.kept[j])}`);
    });
  });
  return problems;
}

const schemeFlags = (schemes: readonly string[]): string[] => schemes.flatMap((s) => ['--scheme', s]);

test('tiles match a float64 block reduction: exact min/max/absmax, mean to 1e-12', { skip: noNumpy }, () => {
  const file = planted();
  const cases: [string, string, string, string, string][] = [
    ['model.embed_tokens.weight', '0:300', '0:96', '7x9', 'mean'],
    ['model.embed_tokens.weight', '10:290', '3:90', '300x96', 'max'],
    ['model.layers.0.mlp.down_proj.weight', '0:96', '0:256', '96x256', 'min'],
    ['model.layers.0.mlp.down_proj.weight', '0:96', '100:110', '4x10', 'absmax'],
    ['special.weight', '0:3', '0:40', '5x13', 'absmax'],
    ['special.weight', '0:3', '0:40', '2x3', 'mean'],
    ['encoder.conv.weight', '2:15', '0:72', '3x4', 'mean'],
    ['model.layers.0.input_layernorm.weight', '0:1', '0:96', '1x10', 'absmax'],
    ['model.layers.0.self_attn.q_proj.weight', '0:128', '0:96', '1x1', 'mean'],
    ['wide.weight', '0:33', '0:300', '1x1', 'mean'],
    ['scalar', '0:1', '0:1', '1x1', 'min'],
  ];
  for (const [name, rows, cols, size, reduce] of cases) {
    const got = weightscope('tile', file, '--tensor', name, '--rows', rows, '--cols', cols, '--size', size, '--reduce', reduce, '--json');
    const want = referenceOf('tile', file, name, rows, cols, size, reduce);
    assert.deepEqual(Object.keys(got), ['tensor', 'rows', 'cols', 'size', 'reduce', 'values']);
    assert.deepEqual({ ...got, values: undefined }, { ...want, values: undefined }, `${name} ${size}`);
    got.values.forEach((line: (number | null)[], i: number) => line.forEach((v, j) => {
      const ok = reduce === 'mean' ? close(v, want.values[i][j], 1e-12) : v === want.values[i][j];
      assert.ok(ok, `${name} ${size} ${reduce} cell (${i}, ${j}): ${v} vs ${want.values[i][j]}`);
    }));
  }
});

test('the same tile whatever the worker count and chunk size', () => {
  const file = planted();
  const args = ['tile', file, '--tensor', 'model.embed_tokens.weight', '--size', '37x11', '--reduce', 'mean', '--json'];
  const one = weightscope(...args, '--workers', '1');
  assert.deepEqual(weightscope(...args, '--workers', '2', '--chunk-size', '4096'), one);
});

test('planted outlier channels and the planted super weight are found at their coordinates', { skip: noNumpy }, () => {
  const doc = weightscope('outliers', planted(), '--json');
  assert.deepEqual(doc.super_weight_candidates, [{ tensor: 'model.layers.0.mlp.down_proj.weight', row: 17, col: 201, value: -3 }]);
  for (const name of ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.up_proj.weight']) {
    const t = doc.tensors.find((x: Json) => x.name === name);
    assert.deepEqual(t.top_cols.slice(0, 2).map((c: Json) => c.index).sort((a: number, b: number) => a - b), [5, 77], name);
    assert.ok(t.col_outlier_ratio > 5, `${name} column ratio ${t.col_outlier_ratio}`);
  }
  const down = doc.tensors.find((x: Json) => x.name === 'model.layers.0.mlp.down_proj.weight');
  assert.deepEqual([down.top_scalars[0].row, down.top_scalars[0].col, down.top_scalars[0].value], [17, 201, -3]);
  assert.equal(down.top_rows[0].index, 17);
  assert.equal(down.top_cols[0].index, 201);
  assert.ok(!doc.tensors.some((t: Json) => t.shape.length < 2), '1-D and 0-D tensors are not listed');
  assert.ok(!doc.tensors.some((t: Json) => t.name === 'counts'), 'integer tensors are not listed');
});

test('outliers match the float64 reference', { skip: noNumpy }, () => {
  const file = planted();
  for (const top of ['10', '3']) {
    assert.deepEqual(compareOutliers(`planted top ${top}`, weightscope('outliers', file, '--json', '--top', top), referenceOf('outliers', file, top)), []);
  }
});

test('every scheme matches its float64 reference, with and without the top 0.1 %/1 % kept', { skip: noNumpy }, () => {
  const file = planted();
  const got = weightscope('quant', file, '--json', '--keep-outliers', ...schemeFlags(SCHEMES));
  const want = referenceOf('quant', file, '--keep-outliers', ...SCHEMES);
  assert.deepEqual(compareQuant('planted', got, want), []);
  // The conv's last axis (3) is not whole 32-element blocks: no Q8_0/Q4_0 entry for it.
  assert.ok(!got.tensors.some((t: Json) => t.name === 'encoder.conv.weight' && t.scheme.startsWith('q')));
});

test('Q8_0 and Q4_0 are bit-exact with gguf-py\'s ports of ggml\'s reference quantizers', { skip: noGguf }, () => {
  const file = planted();
  const got = weightscope('quant', file, '--json', '--scheme', 'q8_0', '--scheme', 'q4_0');
  const want = referenceOf('gguf-quant', file, 'q8_0', 'q4_0');
  assert.ok(want.tensors.length >= 10);
  for (const w of want.tensors) {
    const g = got.tensors.find((t: Json) => t.name === w.name && t.scheme === w.scheme);
    assert.ok(g, `${w.name} ${w.scheme}`);
    assert.equal(g.max_abs_err, w.max_abs_err, `${w.name} ${w.scheme} max |error|`);
    assert.ok(close(g.mse, w.mse, 1e-12), `${w.name} ${w.scheme} mse ${g.mse} vs ${w.mse}`);
  }
});

const sharedFiles = sharedCheckpoints ? readdirSync(sharedCheckpoints).filter((f) => /^st_.*\.safetensors$/.test(f)).sort() : [];

test('real checkpoints in ../shared/checkpoints: outliers, quantization and overview tiles match the references', { skip: noNumpy }, (t) => {
  if (sharedFiles.length === 0) return t.skip('no ../shared/checkpoints folder');
  const problems: string[] = [];
  const schemes = ['int8-sym-row', 'int4-asym-g128', 'q8_0', 'q4_0', 'fp8-e4m3-tensor', 'mxfp4', 'nvfp4'];
  for (const name of sharedFiles) {
    const file = join(sharedCheckpoints!, name);
    problems.push(...compareOutliers(name, weightscope('outliers', file, '--json'), referenceOf('outliers', file)));
    problems.push(...compareQuant(name, weightscope('quant', file, '--json', ...schemeFlags(schemes)), referenceOf('quant', file, ...schemes)));
    const stats = weightscope('stats', file, '--json');
    const largest = stats.tensors.filter((x: Json) => x.stats).sort((a: Json, b: Json) => b.bytes - a.bytes)[0];
    if (largest) {
      const got = weightscope('tile', file, '--tensor', largest.name, '--size', '16x16', '--reduce', 'absmax', '--json');
      const want = referenceOf('tile', file, largest.name, `${got.rows[0]}:${got.rows[1]}`, `${got.cols[0]}:${got.cols[1]}`, '16x16', 'absmax');
      if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${basename(file)} ${largest.name}: overview tile differs`);
    }
  }
  assert.deepEqual(problems, []);
});
