// End-to-end tests of the heatmap, outlier and quantization panels in real VS Code, on the demo model: planted
// outlier input channels 37 and 190, and a super weight at model.layers.1.mlp.down_proj.weight [42, 400] = -12.5.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { closeAllEditors, projectRoot, waitFor } from './codeServer.mjs';

const DOWN = 'model.layers.1.mlp.down_proj.weight';
const SUPER = { row: 42, col: 400, value: -12.5 };
const DOWN_SHAPE = [256, 704];

/** Any CLI command on a workspace file, parsed. */
function weightscope(ctx, command, relativePath, ...args) {
  const out = execFileSync(process.execPath, [join(projectRoot, 'dist/cli.js'), command, join(ctx.workspace, relativePath), ...args], { maxBuffer: 64 << 20 });
  return JSON.parse(out.toString());
}

/** Opens base/model.safetensors: picked by its folder in Quick Open, since recently opened files of the same name
 *  (the sharded copy, the fine-tune) may rank first. */
async function openDemo(ctx) {
  const { page } = ctx;
  await closeAllEditors(page);
  await page.keyboard.press('Control+P');
  await page.locator('.quick-input-widget .quick-input-box input').fill('base/model.safetensors');
  const row = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: 'model.safetensors' }).filter({ hasText: 'base' }).filter({ hasNotText: 'index' });
  await row.first().click({ timeout: 20_000 });
  const frame = ctx.frame();
  await frame.locator('#app[data-view="checkpoint"]').waitFor({ timeout: 30_000 });
  assert.match(await frame.locator('[data-testid="summary"] .files summary').innerText(), /base\/model\.safetensors$/);
  return frame;
}

async function selectTensor(frame, name, tab) {
  await frame.locator('[data-testid="filter"] input').fill(name);
  await frame.locator(`[data-testid="tensor-row"][data-name="${name}"]`).click();
  await frame.locator(`[data-testid="tensor-detail"][data-name="${name}"]`).waitFor();
  await frame.locator(`[data-testid="detail-tabs"] vscode-tab-header[data-tab="${tab}"]`).click();
  await frame.locator(`[data-testid="panel-${tab}"]`).waitFor();
}

async function showView(frame, view) {
  await frame.locator(`[data-testid="main-tabs"] vscode-tab-header[data-tab="${view}"]`).click();
  await frame.locator(`[data-testid="view-${view}"]`).waitFor();
}

/** Page position of the centre of element (row, col) on the heatmap canvas under its current zoom. */
async function pointOf(canvas, row, col) {
  const box = await canvas.boundingBox();
  const [k, x, y] = ((await canvas.getAttribute('data-zoom')) ?? '1 0 0').split(' ').map(Number);
  // The canvas has a 1 px border; its drawing area is the box less the border.
  const width = box.width - 2;
  const height = box.height - 2;
  return { x: box.x + 1 + k * ((col + 0.5) / DOWN_SHAPE[1]) * width + x, y: box.y + 1 + k * ((row + 0.5) / DOWN_SHAPE[0]) * height + y };
}

export const tests = [
  {
    name: 'the Heatmap tab renders the tensor with marginals, a legend and an exact readout at full resolution',
    async run(ctx) {
      const frame = await openDemo(ctx);
      await selectTensor(frame, DOWN, 'heatmap');
      const status = frame.locator('[data-testid="heatmap-status"]');
      await frame.locator('[data-testid="heatmap-status"][data-state="ready"]').waitFor({ timeout: 30_000 });
      const canvas = frame.locator('[data-testid="heatmap-canvas"]');
      const painted = await canvas.evaluate((c) => {
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let opaque = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) opaque++;
        return opaque / (data.length / 4);
      });
      assert.ok(painted > 0.9, `the heatmap is painted (${painted})`);
      for (const strip of ['heatmap-row-marginal', 'heatmap-col-marginal']) {
        const max = Number(await frame.locator(`[data-testid="${strip}"]`).getAttribute('data-max'));
        assert.equal(max, 12.5, `${strip}: the largest marginal absmax is the super weight`);
      }
      assert.equal(Number(await frame.locator('[data-testid="heatmap-legend"]').getAttribute('data-limit')), 12.5);
      // Overview: the cell holding the super weight reads 12.5 (absmax) under the pointer.
      const readout = frame.locator('[data-testid="heatmap-readout"]');
      const at = await pointOf(canvas, SUPER.row, SUPER.col);
      const near = async (matches) => {
        for (let dx = -5; dx <= 5; dx += 1) {
          for (let dy = -5; dy <= 5; dy += 1) {
            await ctx.page.mouse.move(at.x + dx, at.y + dy);
            if (await matches()) return true;
          }
        }
        return false;
      };
      assert.ok(await near(async () => Number(await readout.getAttribute('data-value')) === 12.5), 'the overview cell of the super weight reads 12.5');
      // A coarse overview names the block it reduced; when the pane is wide enough the overview is already exact.
      assert.match(await readout.innerText(), /absmax 12\.5 over rows|\[42, 400\] = 12\.5 · byte/);
      await ctx.shot('heatmap');
      // Zoom in on the super weight until cells are elements: the readout gives the exact value and its byte offset.
      // Each double-click zooms ×2 around the pointer (an animated transition): wait for its tile before the next.
      for (let i = 0; i < 3; i++) {
        const before = await status.innerText();
        await ctx.page.mouse.dblclick(at.x, at.y);
        await waitFor(async () => (await status.getAttribute('data-state')) === 'ready' && ((await status.innerText()) !== before || /Full resolution/.test(before)), 30_000, `zoom step ${i + 1}`);
      }
      await waitFor(async () => /Full resolution/.test(await status.innerText()), 30_000, 'a full-resolution tile');
      // At full resolution the cell under the super weight's position is the element itself.
      const exactly = await pointOf(canvas, SUPER.row, SUPER.col);
      await ctx.page.mouse.move(exactly.x, exactly.y);
      await waitFor(async () => (await readout.getAttribute('data-exact')) === 'true'
        && (await readout.getAttribute('data-col')) === String(SUPER.col) && (await readout.getAttribute('data-row')) === String(SUPER.row),
      10_000, 'the super weight under the pointer at full resolution');
      assert.equal(Number(await readout.getAttribute('data-value')), SUPER.value);
      const tensor = ctx.cli('base/model.safetensors').tensors.find((t) => t.name === DOWN);
      const offset = tensor.offset + (SUPER.row * DOWN_SHAPE[1] + SUPER.col) * 2;
      assert.match(await readout.innerText(), new RegExp(`byte ${offset.toLocaleString('en-US')}`));
      // The symlog scale re-colours without new tiles.
      await frame.locator('[data-testid="heatmap-scale"] button[data-option="symlog"]').click();
      await frame.locator('[data-testid="heatmap-legend"][data-scale="symlog"]').waitFor();
      await frame.locator('[data-testid="heatmap-reset"]').click();
      await waitFor(async () => !/Full resolution/.test(await status.innerText()) && (await status.getAttribute('data-state')) === 'ready', 30_000, 'the overview again');
    },
  },
  {
    name: 'the Outliers tab and view find the planted channels, the super weight and the cross-layer echo',
    async run(ctx) {
      const frame = await openDemo(ctx);
      await selectTensor(frame, 'model.layers.0.self_attn.q_proj.weight', 'outliers');
      const cols = frame.locator('[data-testid="outlier-cols"] tr[data-index]');
      await cols.first().waitFor({ timeout: 30_000 });
      const top = await cols.evaluateAll((rows) => rows.slice(0, 2).map((r) => Number(r.getAttribute('data-index'))).sort((a, b) => a - b));
      assert.deepEqual(top, [37, 190]);
      await showView(frame, 'outliers');
      await frame.locator('[data-testid="outlier-progress"][data-state="done"]').waitFor({ timeout: 60_000 });
      const superWeight = frame.locator('[data-testid="super-weights"] tr[data-tensor]');
      assert.equal(await superWeight.count(), 1);
      assert.equal(await superWeight.getAttribute('data-tensor'), DOWN);
      assert.equal(await superWeight.getAttribute('data-row'), String(SUPER.row));
      assert.equal(await superWeight.getAttribute('data-col'), String(SUPER.col));
      assert.equal(Number(await superWeight.getAttribute('data-value')), SUPER.value);
      const channels = await frame.locator('[data-testid="cross-layer"] tr[data-channel]').evaluateAll((rows) => rows.slice(0, 2).map((r) => Number(r.getAttribute('data-channel'))).sort((a, b) => a - b));
      assert.deepEqual(channels, [37, 190]);
      const echoes = Number(await frame.locator('[data-testid="cross-layer"] tr[data-channel="37"]').getAttribute('data-count'));
      assert.ok(echoes >= 20, `channel 37 stands out in ${echoes} tensors (embeddings, norms, q/k/v, gate, up)`);
      const ranking = frame.locator('[data-testid="outlier-ranking"] tr[data-name]');
      assert.ok((await ranking.count()) >= 30);
      await ctx.shot('outliers');
      // A tensor name opens its Outliers tab.
      await superWeight.locator('a').click();
      await frame.locator(`[data-testid="tensor-detail"][data-name="${DOWN}"] [data-testid="panel-outliers"]`).waitFor();
      await frame.locator(`[data-testid="outlier-scalars"] tr[data-row="${SUPER.row}"][data-col="${SUPER.col}"]`).waitFor({ timeout: 30_000 });
    },
  },
  {
    name: 'the Quantization view ranks tensors by expected damage and the tab lists every scheme',
    async run(ctx) {
      const frame = await openDemo(ctx);
      await showView(frame, 'quantization');
      await frame.locator('[data-testid="quant-progress"][data-state="done"]').waitFor({ timeout: 90_000 });
      const rows = frame.locator('[data-testid="quant-ranking"] tr[data-name]');
      const sqnr = await rows.evaluateAll((r) => r.map((row) => Number(row.getAttribute('data-sqnr'))));
      assert.ok(sqnr.length >= 30, `${sqnr.length} ranked tensors`);
      for (let i = 1; i < sqnr.length; i++) assert.ok(sqnr[i - 1] <= sqnr[i] + 1e-9, `rank ${i}: ${sqnr[i - 1]} then ${sqnr[i]}`);
      const scheme = await frame.locator('[data-testid="quant-ranking"]').getAttribute('data-scheme');
      const cli = weightscope(ctx, 'quant', 'base/model.safetensors', '--scheme', scheme, '--json');
      const name = await rows.first().getAttribute('data-name');
      const expected = cli.tensors.find((t) => t.name === name).sqnr_db;
      assert.ok(Math.abs(sqnr[0] - expected) <= 1e-9 * Math.abs(expected), `${name}: webview ${sqnr[0]} dB, CLI ${expected} dB`);
      await frame.locator('[data-testid="keep-count"]').waitFor();
      await ctx.shot('quant-ranking');
      await rows.first().locator('a').click();
      const table = frame.locator(`[data-testid="tensor-detail"][data-name="${name}"] [data-testid="quant-table"]`);
      await table.waitFor({ timeout: 60_000 });
      const schemes = await table.locator('tr[data-scheme]').evaluateAll((r) => r.map((row) => row.getAttribute('data-scheme')));
      assert.ok(schemes.includes(scheme) && schemes.length >= 10, schemes.join(', '));
    },
  },
];
