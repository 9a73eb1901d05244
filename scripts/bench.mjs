// npm run bench (not part of the tests): throughput and memory, reported as ratios measured in one run.
// Generates once, in a temporary folder, a 2 GiB BF16 checkpoint with 7B-like tensor shapes, then measures raw
// sequential reads of it (warm page cache), `weightscope stats` with 1 and 2 workers, their peak RSS, and the same
// statistics computed by numpy when python3 with numpy is present. The diff and merge sections generate fine-tunes
// of the same shapes and compare `diff`/`merge` with their raw baselines (scripts/benchCompare.ts).
//
//   node scripts/bench.mjs [--size-gib N] [--only stats|sharded-header|tiles]
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'dist/cli.js');
const args = process.argv.slice(2);
const sizeGiB = Number(args.includes('--size-gib') ? args[args.indexOf('--size-gib') + 1] : 2);
const benchDir = join(tmpdir(), 'weightscope-bench');
mkdirSync(benchDir, { recursive: true });

/** 7B-like shapes (hidden 4096, intermediate 11008, vocab 32000), as many layers as fit the size. */
function modelShapes(targetBytes) {
  const hidden = 4096;
  const inter = 11008;
  const vocab = 32000;
  const shapes = [['model.embed_tokens.weight', [vocab, hidden]]];
  let bytes = vocab * hidden * 2;
  const layerBytes = (4 * hidden * hidden + 3 * inter * hidden + 2 * hidden) * 2;
  for (let l = 0; bytes + layerBytes <= targetBytes; l++) {
    const p = `model.layers.${l}`;
    shapes.push([`${p}.input_layernorm.weight`, [hidden]]);
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) shapes.push([`${p}.self_attn.${m}.weight`, [hidden, hidden]]);
    shapes.push([`${p}.post_attention_layernorm.weight`, [hidden]]);
    shapes.push([`${p}.mlp.gate_proj.weight`, [inter, hidden]], [`${p}.mlp.up_proj.weight`, [inter, hidden]], [`${p}.mlp.down_proj.weight`, [hidden, inter]]);
    bytes += layerBytes;
  }
  if (bytes + vocab * hidden * 2 <= targetBytes * 1.05) shapes.push(['lm_head.weight', [vocab, hidden]]);
  return shapes;
}

/** Writes the checkpoint once: Gaussian-like BF16 weights drawn from a table, in 16 MiB chunks. */
function ensureCheckpoint(path, targetBytes, valueSeed = 88172645) {
  if (existsSync(path)) return;
  const shapes = modelShapes(targetBytes);
  const header = {};
  let offset = 0;
  for (const [name, shape] of shapes) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const table = new Uint16Array(1 << 16);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  let seed = 12345;
  const uniform = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  for (let i = 0; i < table.length; i++) {
    f32[0] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) * 0.02;
    table[i] = u32[0] >>> 16;
  }
  const partial = `${path}.partial`;
  const fd = openSync(partial, 'w');
  const head = Buffer.alloc(8 + json.length);
  head.writeBigUInt64LE(BigInt(json.length), 0);
  head.write(json, 8, 'latin1');
  writeSync(fd, head);
  const chunk = new Uint16Array(8 << 20);
  let x = valueSeed;
  for (let written = 0; written < offset; written += chunk.byteLength) {
    for (let i = 0; i < chunk.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      chunk[i] = table[x & 0xffff];
    }
    writeSync(fd, new Uint8Array(chunk.buffer, 0, Math.min(chunk.byteLength, offset - written)));
  }
  closeSync(fd);
  renameSync(partial, path);
}

function seconds(start) {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Sequential reads through Node into one reused buffer, the file already in the page cache. */
function nodeRead(path, bufferBytes) {
  const fd = openSync(path, 'r');
  const buffer = Buffer.allocUnsafe(bufferBytes);
  const start = process.hrtime.bigint();
  let position = 0;
  for (let n; (n = readSync(fd, buffer, 0, bufferBytes, position)) > 0; ) position += n;
  closeSync(fd);
  return seconds(start);
}

function catRead(path) {
  const start = process.hrtime.bigint();
  execFileSync('sh', ['-c', `cat "${path}" > /dev/null`]);
  return seconds(start);
}

/** Runs the CLI in a child process that reports its peak RSS (worker threads included) on exit. */
function timedCli(cliArgs) {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['--require', join(root, 'scripts/reportPeakRss.cjs'), cli, ...cliArgs], {
    maxBuffer: 1 << 30,
    encoding: 'utf8',
  });
  const elapsed = seconds(start);
  if (result.status !== 0) throw new Error(`weightscope ${cliArgs.join(' ')} failed: ${result.stderr}`);
  const rss = Number(/peak-rss-kib (\d+)/.exec(result.stderr)?.[1] ?? NaN) * 1024;
  return { seconds: elapsed, rss, stdout: result.stdout };
}

const gb = (bytes, s) => (bytes / s / 1e9).toFixed(2);
const mb = (bytes) => `${(bytes / 1e6).toFixed(0)} MB`;

function benchStats() {
  const path = join(benchDir, `model-bf16-${sizeGiB}gib.safetensors`);
  console.log(`checkpoint: ${path}`);
  ensureCheckpoint(path, sizeGiB * 2 ** 30);
  const bytes = statSync(path).size;
  catRead(path); // warm the page cache
  const raw = {
    cat: Math.min(catRead(path), catRead(path)),
    node64k: Math.min(nodeRead(path, 64 << 10), nodeRead(path, 64 << 10)),
    node1m: Math.min(nodeRead(path, 1 << 20), nodeRead(path, 1 << 20)),
  };
  const rawBest = Math.min(...Object.values(raw));
  console.log(`file: ${(bytes / 2 ** 30).toFixed(2)} GiB`);
  console.log(`raw sequential read (warm cache): cat ${gb(bytes, raw.cat)} GB/s · node readSync 64 KiB ${gb(bytes, raw.node64k)} GB/s · node readSync 1 MiB ${gb(bytes, raw.node1m)} GB/s`);
  const rows = [];
  for (const workers of [1, 2]) {
    const run = timedCli(['stats', path, '--json', '--workers', String(workers)]);
    rows.push({ workers, ...run });
    console.log(
      `weightscope stats, ${workers} worker(s): ${run.seconds.toFixed(2)} s, ${gb(bytes, run.seconds)} GB/s = ` +
        `${(rawBest / run.seconds).toFixed(2)}× the fastest raw read (${(raw.cat / run.seconds).toFixed(2)}× cat); peak RSS ${mb(run.rss)}`,
    );
  }
  const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
  if (hasNumpy) {
    const start = process.hrtime.bigint();
    execFileSync('python3', [join(root, 'test/golden/reference.py'), 'stats', path], { maxBuffer: 1 << 30, stdio: ['ignore', 'ignore', 'inherit'] });
    const numpySeconds = seconds(start);
    const best = Math.min(...rows.map((r) => r.seconds));
    console.log(`numpy reference (test/golden/reference.py): ${numpySeconds.toFixed(1)} s = ${(numpySeconds / best).toFixed(1)}× slower than weightscope`);
  } else {
    console.log('numpy reference: skipped (python3 with numpy not found)');
  }
}

/** Time to the header view of a 100-shard index: the CLI reading every shard header, minus its bare start-up. */
function benchShardedHeader() {
  const dir = join(benchDir, 'sharded-100');
  const index = join(dir, 'model.safetensors.index.json');
  if (!existsSync(index)) {
    mkdirSync(dir, { recursive: true });
    const weightMap = {};
    for (let s = 1; s <= 100; s++) {
      const file = `model-${String(s).padStart(5, '0')}-of-00100.safetensors`;
      const header = {};
      for (let t = 0; t < 30; t++) {
        const name = `model.layers.${s}.t${t}.weight`;
        header[name] = { dtype: 'BF16', shape: [4, 4], data_offsets: [t * 32, t * 32 + 32] };
        weightMap[name] = file;
      }
      const json = JSON.stringify(header);
      const bytes = Buffer.alloc(8 + json.length + 30 * 32);
      bytes.writeBigUInt64LE(BigInt(json.length), 0);
      bytes.write(json, 8, 'latin1');
      const fd = openSync(join(dir, file), 'w');
      writeSync(fd, bytes);
      closeSync(fd);
    }
    const fd = openSync(index, 'w');
    writeSync(fd, JSON.stringify({ metadata: {}, weight_map: weightMap }));
    closeSync(fd);
  }
  const best = (cliArgs) => Math.min(...[0, 1, 2].map(() => timedCli(cliArgs).seconds));
  const startUp = best(['--help']);
  const headers = best(['stats', index, '--json', '--filter', 'no-such-tensor']);
  console.log(`header view of a 100-shard index: ${((headers - startUp) * 1000).toFixed(0)} ms beyond the CLI's ${(startUp * 1000).toFixed(0)} ms start-up`);
}

/** A base and `count` fine-tunes of the bench's shapes (other seeds: the values do not matter for throughput). */
function ensureFineTunes(count) {
  const paths = [join(benchDir, `model-bf16-${sizeGiB}gib.safetensors`)];
  ensureCheckpoint(paths[0], sizeGiB * 2 ** 30);
  for (let i = 1; i <= count; i++) {
    paths.push(join(benchDir, `finetune${i}-bf16-${sizeGiB}gib.safetensors`));
    ensureCheckpoint(paths[i], sizeGiB * 2 ** 30, 1000 + i);
  }
  for (const path of paths) catRead(path); // warm the page cache
  return paths;
}

function benchCompare(cliArgs) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/benchCompare.ts'), ...cliArgs], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new Error(`benchCompare ${cliArgs.join(' ')} failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop());
}

/** diff of a base and a fine-tune: lockstep streaming of both files vs the same reads with no compute (goal ≥ 0.8×). */
function benchDiff() {
  const [base, tuned] = ensureFineTunes(1);
  for (const workers of [1, 2]) {
    const r = benchCompare(['diff', base, tuned, '--workers', String(workers)]);
    console.log(`weightscope diff, ${workers} worker(s): ${gb(r.bytes, r.diffSeconds)} GB/s of both files; raw lockstep reads ${gb(r.bytes, r.rawSeconds)} GB/s` +
      ` → ${r.ratio.toFixed(2)}× (goal ≥ 0.8×); peak RSS ${r.peakRssMB.toFixed(0)} MB`);
  }
}

/** merge of two fine-tunes into a new file vs a raw copy (same reads, the base's bytes written) (goal ≥ 0.5×). */
function benchMerge() {
  const [base, ...models] = ensureFineTunes(2);
  const out = join(benchDir, 'merged.safetensors');
  for (const method of ['task-arithmetic', 'ties', 'dare']) {
    const r = benchCompare(['merge', out, base, ...models, '--workers', '2', '--method', method]);
    console.log(`weightscope merge --method ${method} (2 fine-tunes, 2 workers): writes ${r.mergeWriteGBs.toFixed(2)} GB/s; raw copy ${r.copyWriteGBs.toFixed(2)} GB/s` +
      ` → ${r.ratio.toFixed(2)}× (goal ≥ 0.5×); peak RSS ${r.peakRssMB.toFixed(0)} MB`);
  }
}

/** Heatmap tiles of a 4096 × 14336 BF16 tensor against a raw read of it (scripts/bench-tiles.mjs, which imports the
 *  engine's TypeScript through tsx). */
function benchTiles() {
  execFileSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/bench-tiles.mjs')], { cwd: root, stdio: 'inherit' });
}

const SECTIONS = { stats: benchStats, 'sharded-header': benchShardedHeader, tiles: benchTiles, diff: benchDiff, merge: benchMerge };
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
for (const [name, run] of Object.entries(SECTIONS)) {
  if (only && only !== name) continue;
  console.log(`\n=== ${name}`);
  run();
}
