// End-to-end tests of the diff and merge panels and the LoRA tab, on the demo workspace (base/, finetune/,
// finetune-b/, adapter/ from test/fixtures/makeDemo.ts). File pickers are VS Code's simple dialogs in code-server:
// the tests type a path into them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeAllEditors, projectRoot, quickOpen, runCommand, waitFor } from './codeServer.mjs';

const RUN_TIMEOUT = 60_000;

async function openCheckpoint(ctx, relativePath) {
  // A dialog left open by a failed test would cover the workbench.
  await ctx.page.keyboard.press('Escape');
  await closeAllEditors(ctx.page);
  await quickOpen(ctx.page, relativePath);
  const frame = ctx.frame();
  await frame.locator('#app[data-view="checkpoint"]').waitFor({ timeout: 30_000 });
  return frame;
}

/** Answers VS Code's simple file dialog with a path inside the workspace folder (or an absolute one); returns the
 *  workspace folder. */
async function answerDialog(page, relativePath) {
  const widget = page.locator('.quick-input-widget');
  const input = widget.locator('.quick-input-box input');
  await input.waitFor({ timeout: 20_000 });
  // Wait until the dialog has listed its folder (it rewrites the input while it loads), then type over it.
  await widget.locator('.quick-input-list .monaco-list-row').first().waitFor({ timeout: 20_000 });
  const value = await input.inputValue();
  const at = value.indexOf('weightscope-e2e-');
  assert.ok(at >= 0, `the dialog opened on ${value}`);
  const folder = value.slice(0, value.indexOf('/', at) + 1);
  const target = relativePath.startsWith('/') ? relativePath : folder + relativePath;
  // Fill the path, then nudge the dialog with a real keystroke so it follows the new value (it reacts to keys, and
  // rewrites the input while it lists folders); accept once the value has held still and the file's row is listed.
  const name = target.split('/').pop();
  const row = widget.locator('.quick-input-list .monaco-list-row', { hasText: name });
  let polls = 0;
  let last = '';
  await waitFor(async () => {
    if (!(await widget.isVisible())) return true;
    const value = await input.inputValue();
    // A file to open must be listed; a file to save is new.
    const settled = value === target && value === last && (!existsSync(target) || (await row.count()) > 0);
    last = value;
    if (value !== target) {
      await input.fill(target);
      await page.keyboard.press('End');
      await page.keyboard.type(' ');
      await page.keyboard.press('Backspace');
    } else if (settled && polls++ % 5 === 0) {
      await page.keyboard.press('Enter');
    }
    return false;
  }, 30_000, `the dialog to accept ${target}`);
  return folder;
}

/** Opens `file`, runs Compare with Base… against `base` and waits for the diff to finish; the workspace folder. */
async function compareWithBase(ctx, file, base) {
  await openCheckpoint(ctx, file);
  await runCommand(ctx.page, 'Weightscope: Compare with Base…');
  const folder = await answerDialog(ctx.page, base);
  const frame = ctx.frame();
  await frame.locator('#app[data-view="diff"]').waitFor({ timeout: 30_000 });
  await frame.locator('[data-testid="scan-status"][data-state="done"]').waitFor({ timeout: RUN_TIMEOUT });
  return folder;
}

function cliJson(...args) {
  return JSON.parse(execFileSync(process.execPath, [join(projectRoot, 'dist/cli.js'), ...args, '--json'], { maxBuffer: 64 << 20 }).toString());
}

export const tests = [
  {
    name: 'diff: Compare with Base… shows the layer profile with frozen layers, pairs matching the CLI, a delta histogram and low rank',
    async run(ctx) {
      const folder = await compareWithBase(ctx, 'finetune/model.safetensors', 'base/model.safetensors');
      const frame = ctx.frame();
      assert.equal(await frame.locator('[data-testid="diff-a"]').innerText(), 'base/model.safetensors');
      // Layer 0 and the embeddings are frozen in the fine-tune; q and v of the other layers carry rank-4 deltas.
      const cell = (layer, kind) => frame.locator(`[data-testid="profile-cell"][data-layer="${layer}"][data-kind="${kind}"]`);
      for (const kind of ['q', 'k', 'v', 'o', 'gate', 'up', 'down', 'norm']) assert.equal(await cell(0, kind).getAttribute('data-frozen'), 'true', `layer 0 ${kind}`);
      assert.equal(await cell('', 'embedding').getAttribute('data-frozen'), 'true');
      assert.equal(await cell(2, 'q').getAttribute('data-frozen'), 'false');
      assert.equal(await cell(2, 'k').getAttribute('data-frozen'), 'true', 'k is not tuned');
      const report = cliJson('diff', join(folder, 'base/model.safetensors'), join(folder, 'finetune/model.safetensors'));
      const name = 'model.layers.2.self_attn.q_proj.weight';
      const expected = report.tensors.find((t) => t.name === name);
      const relative = Number(await cell(2, 'q').getAttribute('data-relative'));
      assert.ok(Math.abs(relative - expected.rel_delta) <= 1e-12 * expected.rel_delta, `profile ${relative} vs CLI ${expected.rel_delta}`);
      await cell(2, 'q').click();
      const detail = frame.locator(`[data-testid="pair-detail-content"][data-name="${name}"]`);
      await detail.waitFor();
      await detail.locator('svg[data-testid="delta-histogram"] rect.bar').first().waitFor();
      assert.equal(await detail.locator('[data-testid="pair-stat"][data-key="identical"]').innerText(), 'no');
      await detail.locator('[data-testid="low-rank-run"]').click();
      await detail.locator('svg[data-testid="spectrum"] rect.bar').first().waitFor({ timeout: RUN_TIMEOUT });
      const verdict = await detail.locator('[data-testid="low-rank-fact"][data-key="verdict"]').innerText();
      assert.match(verdict, /LoRA-compressible|partly low-rank/, verdict);
      const rank90 = Number(await detail.locator('[data-testid="low-rank-fact"][data-key="rank-90"]').innerText());
      assert.ok(rank90 <= 4, `the rank-4 delta holds 90% of its energy within rank 4 (got ${rank90})`);
      // The delta heatmap: absmax cells, so its colour limit is the largest |Δ|.
      await detail.locator('[data-testid="delta-heatmap"] [data-testid="heatmap-status"][data-state="ready"]').waitFor({ timeout: RUN_TIMEOUT });
      const limit = Number(await detail.locator('[data-testid="delta-heatmap"] [data-testid="heatmap-legend"]').getAttribute('data-limit'));
      assert.ok(Math.abs(limit - expected.max_abs_delta) <= 1e-12 * expected.max_abs_delta, `heatmap limit ${limit} vs max |Δ| ${expected.max_abs_delta}`);
      await ctx.shot('diff');
      await detail.locator('[data-testid="delta-heatmap"]').scrollIntoViewIfNeeded();
      await ctx.shot('diff-heatmap');
      // The pairs table sorts by relative change: the frozen pairs come last.
      await frame.locator('[data-testid="diff-tabs"] button[data-option="pairs"]').click();
      await frame.locator('[data-testid="pair-table-row"]').first().waitFor();
      const values = await frame.locator('[data-testid="pair-table-row"] [data-col="rel"]').evaluateAll((cells) => cells.map((c) => c.getAttribute('data-value')));
      const numbers = values.filter((v) => v !== '').map(Number);
      for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i - 1] >= numbers[i], `row ${i}: ${numbers[i - 1]} then ${numbers[i]}`);
      await ctx.shot('diff-pairs');
    },
  },
  {
    name: 'diff: the quantized GGUF compared with its safetensors base pairs llama.cpp names, un-permutes Q/K and shows the dequantization error',
    async run(ctx) {
      const folder = await compareWithBase(ctx, 'quantized/model.gguf', 'base/model.safetensors');
      const frame = ctx.frame();
      const report = cliJson('diff', join(folder, 'base/model.safetensors'), join(folder, 'quantized/model.gguf'));
      assert.equal(await frame.locator('[data-fact="pairs"] .value').innerText(), String(report.tensors.length));
      assert.deepEqual([report.only_a, report.only_b], [[], []]);
      // Q is Q4_K in the GGUF and permuted by the converter: un-permuted, its error is a Q4_K error like V's.
      const cell = (layer, kind) => frame.locator(`[data-testid="profile-cell"][data-layer="${layer}"][data-kind="${kind}"]`);
      const name = 'model.layers.2.self_attn.q_proj.weight';
      const expected = report.tensors.find((t) => t.name === name);
      const v = report.tensors.find((t) => t.name === 'model.layers.2.self_attn.v_proj.weight');
      assert.ok(expected.rel_delta < 2 * v.rel_delta, `q ${expected.rel_delta} vs v ${v.rel_delta}`);
      const relative = Number(await cell(2, 'q').getAttribute('data-relative'));
      assert.ok(Math.abs(relative - expected.rel_delta) <= 1e-12 * expected.rel_delta, `profile ${relative} vs CLI ${expected.rel_delta}`);
      assert.equal(Number(await cell(2, 'norm').getAttribute('data-relative')), 0, 'F32 norms hold their BF16 source exactly');
      await cell(2, 'q').click();
      const detail = frame.locator(`[data-testid="pair-detail-content"][data-name="${name}"]`);
      await detail.waitFor();
      assert.match(await detail.innerText(), /B: blk\.2\.attn_q\.weight/);
      await detail.locator('[data-testid="delta-heatmap"] [data-testid="heatmap-status"][data-state="ready"]').waitFor({ timeout: RUN_TIMEOUT });
      const limit = Number(await detail.locator('[data-testid="delta-heatmap"] [data-testid="heatmap-legend"]').getAttribute('data-limit'));
      assert.ok(Math.abs(limit - expected.max_abs_delta) <= 1e-12 * expected.max_abs_delta, `heatmap limit ${limit} vs max |Δ| ${expected.max_abs_delta}`);
      await ctx.shot('diff-gguf');
    },
  },
  {
    name: 'diff of two independently trained adapters compares their ΔW and says they are independent trainings',
    async run(ctx) {
      await compareWithBase(ctx, 'adapter-b/adapter_model.safetensors', 'adapter/adapter_model.safetensors');
      const frame = ctx.frame();
      assert.equal(await frame.locator('[data-testid="diff-mode"]').getAttribute('data-value'), 'lora', 'two adapters compare as ΔW');
      assert.equal(await frame.locator('[data-fact="pairs"] .value').innerText(), '3');
      await frame.locator('[data-testid="diff-notice"][data-independent="true"]').waitFor();
      assert.match(await frame.locator('[data-testid="diff-notice"]').innerText(), /independent trainings/);
      await frame.locator('[data-testid="diff-tabs"] button[data-option="pairs"]').click();
      await frame.locator('[data-testid="pair-table-row"]').first().click();
      assert.match(await frame.locator('[data-testid="lora-scale"]').innerText(), /lora_alpha \/ r = 8 \/ 4/);
      await ctx.shot('diff-independent');
      await frame.locator('[data-testid="diff-mode"] button[data-option="tensors"]').click();
      await frame.locator('[data-testid="diff-mode"][data-value="tensors"]').waitFor();
      await frame.locator('[data-testid="scan-status"][data-state="done"]').waitFor({ timeout: RUN_TIMEOUT });
      assert.equal(await frame.locator('[data-fact="pairs"] .value').innerText(), '6', 'the stored factors');
    },
  },
  {
    name: 'merge preview: base and two fine-tunes, TIES statistics per tensor, export of a mergekit configuration and the merged model',
    async run(ctx) {
      await openCheckpoint(ctx, 'base/model.safetensors');
      await runCommand(ctx.page, 'Weightscope: Merge Fine-tunes…');
      const frame = ctx.frame();
      await frame.locator('#app[data-view="merge"]').waitFor({ timeout: 30_000 });
      assert.match(await frame.locator('[data-testid="merge-base"]').getAttribute('title'), /\/base\/model\.safetensors$/);
      let folder;
      for (const model of ['finetune/model.safetensors', 'finetune-b/model.safetensors']) {
        await frame.locator('[data-testid="merge-add-models"]').click();
        folder = await answerDialog(ctx.page, model);
      }
      await waitFor(async () => (await frame.locator('[data-testid="merge-models"]').innerText()).includes('2. finetune-b/model.safetensors'), 10_000, 'two fine-tunes');
      assert.equal(await frame.locator('[data-testid="merge-base"]').innerText(), 'base/model.safetensors');
      await frame.locator('[data-testid="merge-param"][data-param="density"] input').fill('0.3');
      await frame.locator('[data-testid="merge-preview"]').click();
      await frame.locator('[data-testid="scan-status"][data-state="done"]').waitFor({ timeout: RUN_TIMEOUT });
      const report = cliJson('merge', '--base', join(folder, 'base/model.safetensors'), '--models', join(folder, 'finetune/model.safetensors'),
        join(folder, 'finetune-b/model.safetensors'), '--method', 'ties', '--density', '0.3');
      const name = 'model.layers.2.self_attn.o_proj.weight';
      const expected = report.tensors.find((t) => t.name === name);
      const rows = frame.locator('[data-testid="merge-table-row"]');
      await rows.first().waitFor();
      const index = report.tensors.findIndex((t) => t.name === name);
      const row = frame.locator(`[data-testid="merge-table-row"][data-id="${index}"]`);
      await row.waitFor();
      assert.equal(Number(await row.locator('[data-col="kept"]').getAttribute('data-value')), expected.kept_fraction);
      assert.equal(Number(await row.locator('[data-col="conflicts"]').getAttribute('data-value')), expected.sign_conflict_fraction);
      await row.click();
      const detail = frame.locator(`[data-testid="merge-detail-content"][data-name="${name}"]`);
      await detail.waitFor();
      const counts = await detail.locator('[data-testid="tensor-task-counts"] .task-column').evaluateAll((cols) => cols.map((c) => Number(c.getAttribute('data-count'))));
      assert.deepEqual(counts, expected.task_counts);
      await frame.locator('[data-testid="task-counts"] .task-column').first().waitFor();
      // The mask heatmap: how many of the two tasks keep each weight (max over a cell: at most 2).
      await detail.locator('[data-testid="mask-heatmap"] [data-testid="heatmap-status"][data-state="ready"]').waitFor({ timeout: RUN_TIMEOUT });
      const limit = Number(await detail.locator('[data-testid="mask-heatmap"] [data-testid="heatmap-legend"]').getAttribute('data-limit'));
      assert.ok(limit > 0 && limit <= 2, `mask heatmap limit ${limit}`);
      await ctx.shot('merge');
      await detail.locator('[data-testid="mask-heatmap"]').scrollIntoViewIfNeeded();
      await ctx.shot('merge-masks');
      // Exports go outside the workspace, so later suites see the demo folder unchanged.
      const out = mkdtempSync(join(tmpdir(), 'weightscope-e2e-exports-'));
      await frame.locator('[data-testid="merge-export-mergekit"]').click();
      await answerDialog(ctx.page, join(out, 'merged-ties.yml'));
      await waitFor(() => existsSync(join(out, 'merged-ties.yml')), 10_000, 'the mergekit file');
      assert.match(readFileSync(join(out, 'merged-ties.yml'), 'utf8'), /^merge_method: ties$/m);
      await frame.locator('[data-testid="merge-export-model"]').click();
      await answerDialog(ctx.page, join(out, 'merged-ties.safetensors'));
      await waitFor(() => existsSync(join(out, 'merged-ties.safetensors')), RUN_TIMEOUT, 'the merged model');
      await waitFor(async () => (await frame.locator('[data-testid="merge-notice"]').innerText()).startsWith('Wrote'), RUN_TIMEOUT, 'the export to finish');
      const merged = cliJson('stats', join(out, 'merged-ties.safetensors'));
      assert.equal(merged.metadata['weightscope.method'], 'ties');
      assert.equal(merged.tensors.length, report.tensors.length);
    },
  },
  {
    name: 'a LoRA adapter shows each pair as ΔW with the scale from adapter_config.json',
    async run(ctx) {
      const frame = await openCheckpoint(ctx, 'adapter/adapter_model.safetensors');
      const name = 'base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight';
      await frame.locator('[data-testid="filter"] input').fill('layers.2');
      await frame.locator(`[data-testid="tensor-row"][data-name="${name}"]`).click();
      await frame.locator('[data-testid="detail-tabs"] vscode-tab-header[data-tab="lora"]').click();
      const fact = (key) => frame.locator(`[data-testid="lora-fact"][data-key="${key}"]`);
      await fact('scale').waitFor({ timeout: RUN_TIMEOUT });
      assert.equal(await fact('scale').innerText(), '2');
      assert.match(await fact('scale-source').innerText(), /adapter_config\.json: lora_alpha \/ r = 8 \/ 4/);
      assert.equal(await fact('rank').innerText(), '4');
      assert.equal(await fact('shape').innerText(), '256 × 256');
      await frame.locator('svg[data-testid="spectrum"] rect.bar').first().waitFor();
      assert.equal(await frame.locator('svg[data-testid="spectrum"] rect.bar').count(), 4, 'ΔW has rank 4');
      await ctx.shot('lora');
    },
  },
];
