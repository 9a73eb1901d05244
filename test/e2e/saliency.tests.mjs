// End-to-end: the Saliency tab. Magnitude from the weights alone; then activation statistics imported through the
// file picker (a llama.cpp imatrix) and the command (SmoothQuant act_scales), with Wanda's and SmoothQuant's rankings
// checked against the CLI and the α slider moving the preview of flattened ranges; LIFT on a fine-tune, its rankings
// checked against the CLI, with its overlaps before and after choosing the base in the tab.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot, runCommand, waitFor } from './codeServer.mjs';
import { filterTo, openCheckpoint } from './checkpointEditor.tests.mjs';

const MODEL = 'base/model.safetensors';
const WEIGHT = 'model.layers.1.mlp.gate_proj.weight';

const TUNED = 'finetune/model.safetensors';
const TUNED_WEIGHT = 'model.layers.1.self_attn.q_proj.weight';

function saliencyCli(ctx, method, activations, ...flags) {
  return saliencyCliOf(ctx, MODEL, WEIGHT, method, activations, ...flags);
}

function saliencyCliOf(ctx, model, weight, method, activations, ...flags) {
  const args = [join(projectRoot, 'dist/cli.js'), 'saliency', join(ctx.workspace, model), '--method', method, '--top', '32', '--json', ...flags];
  if (activations) args.push('--activations', join(ctx.workspace, activations));
  const report = JSON.parse(execFileSync(process.execPath, args, { maxBuffer: 64 << 20 }).toString());
  return report.tensors.find((t) => t.name === weight);
}

async function openSaliencyTab(ctx, model = MODEL, weight = WEIGHT) {
  const frame = await openCheckpoint(ctx, model);
  await filterTo(frame, weight.replace(/^model\./, '').replace(/\.weight$/, ''));
  await frame.locator(`[data-testid="tensor-row"][data-name="${weight}"]`).click();
  const detail = frame.locator(`[data-testid="tensor-detail"][data-name="${weight}"]`);
  await detail.locator('[data-testid="detail-tabs"] vscode-tab-header[data-tab="saliency"]').click();
  await detail.locator('[data-testid="saliency-panel"]').waitFor();
  return { frame, detail };
}

/**
 * Picks a file in VS Code's open dialog (the simple, quick-input one in code-server) by its absolute path, with the
 * dialog's own button: a key pressed while the webview has focus stays in the webview. The dialog rewrites its input
 * while it lists a folder, so the path is filled (again) until the dialog holds it, and the button pressed until the
 * dialog closes.
 */
async function pickFile(page, path, button = 'Import Activation Statistics') {
  const widget = page.locator('.quick-input-widget');
  const input = widget.locator('.quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await widget.locator('.quick-input-list .monaco-list-row').first().waitFor({ timeout: 20_000 });
  await waitFor(async () => {
    if (!(await widget.isVisible())) return true;
    if ((await input.inputValue()) !== path) await input.fill(path);
    else await widget.locator('.monaco-button', { hasText: button }).click({ timeout: 2_000 }).catch(() => undefined);
    return false;
  }, 30_000, `the file dialog to accept ${path}`);
}

/** The ranked channels and weights the tab shows, in order. */
async function shownRankings(detail) {
  const channels = await detail.locator('[data-testid="saliency-channel"]').evaluateAll((rows) => rows.map((r) => [Number(r.dataset.index), r.dataset.score]));
  const weights = await detail.locator('[data-testid="saliency-weight"]').evaluateAll((rows) => rows.map((r) => [Number(r.dataset.row), Number(r.dataset.col), r.dataset.score]));
  return { channels, weights };
}

function assertSameRankings(shown, cli, what) {
  assert.deepEqual(shown.channels.map(([j]) => j), cli.top_channels.map((c) => c.index), `${what}: channel ranking`);
  assert.deepEqual(shown.weights.map(([i, j]) => [i, j]), cli.top_weights.map((w) => [w.row, w.col]), `${what}: weight ranking`);
  shown.channels.forEach(([, score], k) => assert.equal(score === 'null' ? null : Number(score), cli.top_channels[k].score, `${what}: channel score ${k}`));
  shown.weights.forEach(([, , score], k) => assert.equal(score === 'null' ? null : Number(score), cli.top_weights[k].score, `${what}: weight score ${k}`));
}

export const tests = [
  {
    name: 'saliency: magnitude from the weights alone ranks the planted outlier channels first',
    async run(ctx) {
      const { detail } = await openSaliencyTab(ctx);
      await detail.locator('[data-testid="saliency-source"][data-state="none"]').waitFor();
      await detail.locator('[data-testid="saliency-detail"][data-method="magnitude"]').waitFor({ timeout: 30_000 });
      const shown = await shownRankings(detail);
      assert.deepEqual(shown.channels.slice(0, 2).map(([j]) => j).sort((a, b) => a - b), [37, 190]);
      assertSameRankings(shown, saliencyCli(ctx, 'magnitude'), 'magnitude');
      // The planted outlier channels are the weights' own outliers too; the heatmap carries the overlay.
      const overlap = detail.locator('[data-testid="saliency-overlap"]');
      assert.deepEqual([await overlap.getAttribute('data-shared'), await overlap.getAttribute('data-outliers')], ['2', '2']);
      await detail.locator('[data-testid="saliency-heatmap"] [data-testid="heatmap-canvas"][data-overlay="10 32"]').waitFor();
      await detail.locator('[data-testid="saliency-heatmap"] [data-testid="heatmap-status"][data-state="ready"]').waitFor({ timeout: 30_000 });
      // Activation-aware methods wait for statistics.
      assert.equal(await detail.locator('[data-testid="saliency-method"] button[data-option="wanda"]').isDisabled(), true);
      await detail.locator('[data-testid="saliency-profile"] svg path.series').waitFor();
    },
  },
  {
    name: 'saliency: an imported imatrix gives Wanda rankings equal to the CLI, and lists its unmatched entry',
    async run(ctx) {
      const { detail } = await openSaliencyTab(ctx);
      await detail.locator('[data-testid="saliency-import"]').click();
      await pickFile(ctx.page, join(ctx.workspace, 'activations/imatrix.gguf'));
      await detail.locator('[data-testid="saliency-source"][data-state="imported"]').waitFor({ timeout: 20_000 });
      assert.match(await detail.locator('[data-testid="saliency-source"]').innerText(), /imatrix\.gguf · imatrix · 30 entries · statistics for 29 weights/);
      assert.equal(await detail.locator('[data-testid="saliency-unmatched"]').getAttribute('data-count'), '1');
      await detail.locator('[data-testid="saliency-method"] button[data-option="wanda"]').click();
      await detail.locator('[data-testid="saliency-detail"][data-method="wanda"]').waitFor({ timeout: 30_000 });
      await detail.locator('[data-testid="saliency-unmatched"] summary').click();
      assertSameRankings(await shownRankings(detail), saliencyCli(ctx, 'wanda', 'activations/imatrix.gguf'), 'wanda');
      await ctx.shot('saliency-wanda');
      await detail.locator('[data-testid="saliency-heatmap"] [data-testid="heatmap-status"][data-state="ready"]').waitFor({ timeout: 30_000 });
      await detail.locator('[data-testid="saliency-heatmap"]').scrollIntoViewIfNeeded();
      await ctx.shot('saliency');
    },
  },
  {
    name: 'saliency: act_scales imported by the command drive SmoothQuant; the α slider flattens activations',
    async run(ctx) {
      const { detail } = await openSaliencyTab(ctx);
      await runCommand(ctx.page, 'Weightscope: Import Activation Statistics…');
      await pickFile(ctx.page, join(ctx.workspace, 'activations/act_scales.pt'));
      await detail.locator('[data-testid="saliency-source"][data-state="imported"]', { hasText: 'act_scales.pt' }).waitFor({ timeout: 20_000 });
      await detail.locator('[data-testid="saliency-method"] button[data-option="smoothquant"]').click();
      await detail.locator('[data-testid="saliency-detail"][data-method="smoothquant"]').waitFor({ timeout: 30_000 });
      assertSameRankings(await shownRankings(detail), saliencyCli(ctx, 'smoothquant', 'activations/act_scales.pt', '--alpha', '0.5'), 'smoothquant α 0.5');
      const spread = async () => Number((await detail.locator('[data-testid="spread-activations-after"]').innerText()).replace(/×$/, ''));
      const atHalf = await spread();
      // Move α to 0.9: activations flatten further, and the rankings are recomputed for the new α.
      await detail.locator('[data-testid="saliency-alpha"]').evaluate((input) => {
        input.value = '0.9';
        input.dispatchEvent(new Event('input', { bubbles: true }));
        input.dispatchEvent(new Event('change', { bubbles: true }));
      });
      await detail.locator('[data-testid="smoothquant-spread"][data-alpha="0.9"]').waitFor();
      assert.ok(await spread() < atHalf, `activation spread after migration: α 0.9 ${await spread()} vs α 0.5 ${atHalf}`);
      await detail.locator('[data-testid="saliency-detail"][data-method="smoothquant"]').waitFor({ timeout: 30_000 });
      await waitFor(async () => {
        const shown = await shownRankings(detail);
        return shown.channels.length > 0 && JSON.stringify(shown.channels.map(([j]) => j)) === JSON.stringify(saliencyCli(ctx, 'smoothquant', 'activations/act_scales.pt', '--alpha', '0.9').top_channels.map((c) => c.index));
      }, 20_000, 'the rankings for α = 0.9');
      await ctx.shot('saliency-smoothquant');
    },
  },
  {
    name: 'saliency: an imatrix\'s Σx² re-rank the quantization preview by activation-weighted error',
    async run(ctx) {
      const frame = await openCheckpoint(ctx, MODEL);
      await runCommand(ctx.page, 'Weightscope: Import Activation Statistics…');
      await pickFile(ctx.page, join(ctx.workspace, 'activations/imatrix.gguf'));
      await frame.locator('[data-testid="main-tabs"] vscode-tab-header[data-tab="quantization"]').click();
      await frame.locator('[data-testid="quant-progress"][data-state="done"]').waitFor({ timeout: 90_000 });
      const ranking = frame.locator('[data-testid="quant-ranking"][data-rank-by="weighted"]');
      await ranking.waitFor({ timeout: 30_000 });
      const weighted = await ranking.locator('tr[data-name]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-weighted-sqnr')));
      const withStatistics = weighted.filter((v) => v !== 'null').map(Number);
      assert.equal(withStatistics.length, 29, 'every projection and the head have statistics');
      assert.deepEqual(weighted.slice(0, 29).map(Number), withStatistics, 'weighted rows come first');
      for (let i = 1; i < withStatistics.length; i++) assert.ok(withStatistics[i - 1] <= withStatistics[i] + 1e-9, `rank ${i}: ${withStatistics[i - 1]} then ${withStatistics[i]}`);
      await ctx.shot('saliency-quant-weighted');
      await frame.locator('[data-testid="quant-rank-by"] button[data-option="plain"]').click();
      const plain = await frame.locator('[data-testid="quant-ranking"][data-rank-by="plain"] tr[data-name]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-sqnr'))));
      for (let i = 1; i < plain.length; i++) assert.ok(plain[i - 1] <= plain[i] + 1e-9, `plain rank ${i}`);
    },
  },
  {
    name: 'saliency: LIFT on a fine-tune ranks like the CLI, at the rank picked, with its overlaps before and after choosing the base',
    async run(ctx) {
      const { detail } = await openSaliencyTab(ctx, TUNED, TUNED_WEIGHT);
      await detail.locator('[data-testid="saliency-method"] button[data-option="lift"]').click();
      await detail.locator('[data-testid="saliency-detail"][data-method="lift"]').waitFor({ timeout: 30_000 });
      assertSameRankings(await shownRankings(detail), saliencyCliOf(ctx, TUNED, TUNED_WEIGHT, 'lift', undefined, '--rank', '8'), 'lift r 8');
      await detail.locator('[data-testid="saliency-rank"] button[data-option="4"]').click();
      await detail.locator('[data-testid="lift-overlaps"]', { hasText: 'r = 4' }).waitFor({ timeout: 30_000 });
      assertSameRankings(await shownRankings(detail), saliencyCliOf(ctx, TUNED, TUNED_WEIGHT, 'lift', undefined, '--rank', '4'), 'lift r 4');
      const overlaps = detail.locator('[data-testid="lift-overlaps"]');
      const principal = Number(await overlaps.getAttribute('data-principal'));
      assert.ok(principal > 0, 'principal weights counted');
      const magnitude = Number(await detail.locator('[data-testid="lift-overlap-magnitude"]').getAttribute('data-fraction'));
      assert.ok(magnitude > 0 && magnitude <= 1, `overlap with the top |W|: ${magnitude}`);
      assert.equal(await detail.locator('[data-testid="lift-overlap-delta"]').getAttribute('data-count'), '');
      // The base, chosen in the tab: where the fine-tune's rank-4 delta landed.
      await detail.locator('[data-testid="lift-choose-base"]').click();
      await pickFile(ctx.page, join(ctx.workspace, MODEL), 'Compare with This Base');
      const delta = detail.locator('[data-testid="lift-overlap-delta"]:not([data-count=""])');
      await delta.waitFor({ timeout: 30_000 });
      const fraction = Number(await delta.getAttribute('data-fraction'));
      assert.ok(fraction >= 0 && fraction <= 1, `overlap with the top |W − W_base|: ${fraction}`);
      assert.match(await overlaps.innerText(), /base: model\.safetensors/);
      await overlaps.scrollIntoViewIfNeeded();
      await ctx.shot('saliency-lift');
    },
  },
];
