// End-to-end tests of the checkpoint editor in real VS Code. Each test gets { page, frame(), cli(file), shot(name) }.
import assert from 'node:assert/strict';
import { closeAllEditors, quickOpen, runCommand, waitFor } from './codeServer.mjs';

const SCAN_TIMEOUT = 60_000;

/** Opens a file of the demo folder in our editor and waits until that file (not another tab) is on screen. */
export async function openCheckpoint(ctx, relativePath) {
  await closeAllEditors(ctx.page);
  await quickOpen(ctx.page, relativePath);
  const frame = ctx.frame();
  const file = relativePath.split('/').pop();
  await frame.locator(`[data-testid="summary"] h1:text-is("${file}"), [data-testid="error-file"]:text-matches("${file.replace(/\./g, '\\.')}$")`).waitFor({ timeout: 30_000 });
  return frame;
}

export async function waitForScan(frame) {
  await frame.locator('[data-testid="scan-status"][data-state="done"]').waitFor({ timeout: SCAN_TIMEOUT });
}

export async function filterTo(frame, text) {
  const input = frame.locator('[data-testid="filter"] input');
  await input.fill(text);
}

function close(actual, expected, what) {
  const tolerance = 1e-9 * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: webview ${actual}, CLI ${expected}`);
}

export const tests = [
  {
    name: 'header view and tree appear, statistics stream in and match the CLI',
    async run(ctx) {
      const frame = await openCheckpoint(ctx, 'base/model.safetensors');
      await frame.locator('[data-testid="summary"]').waitFor();
      const summary = await frame.locator('[data-testid="summary"]').innerText();
      assert.match(summary, /safetensors/);
      assert.match(summary, /39/); // tensors
      await frame.locator('[data-testid="group-row"][data-group="model.layers"]').waitFor();
      await waitForScan(frame);
      const status = frame.locator('[data-testid="scan-status"]');
      assert.equal(await status.getAttribute('data-done-tensors'), await status.getAttribute('data-total-tensors'));
      const report = ctx.cli('base/model.safetensors');
      for (const name of ['model.embed_tokens.weight', 'model.layers.1.mlp.down_proj.weight', 'lm_head.weight']) {
        await filterTo(frame, name);
        const row = frame.locator(`[data-testid="tensor-row"][data-name="${name}"]`);
        await row.waitFor();
        const expected = report.tensors.find((t) => t.name === name).stats;
        for (const column of ['mean', 'std', 'absmax', 'kurtosis']) {
          const value = Number(await row.locator(`[data-col="${column}"]`).getAttribute('data-value'));
          close(value, expected[column], `${name} ${column}`);
        }
      }
      await filterTo(frame, '');
      await frame.locator('[data-testid="group-row"][data-group="model.layers"]').waitFor();
      await ctx.shot('tree');
    },
  },
  {
    name: 'tensor detail shows every statistic, quantiles and a histogram with min/max markers',
    async run(ctx) {
      const frame = await openCheckpoint(ctx, 'base/model.safetensors');
      await waitForScan(frame);
      const name = 'model.layers.1.mlp.down_proj.weight';
      await filterTo(frame, 'layers.1.mlp.down');
      await frame.locator(`[data-testid="tensor-row"][data-name="${name}"]`).click();
      const detail = frame.locator(`[data-testid="tensor-detail"][data-name="${name}"]`);
      await detail.waitFor();
      await detail.locator('svg[data-testid="histogram"] rect.bar').first().waitFor();
      await detail.locator('[data-testid="marker-min"]').waitFor();
      await detail.locator('[data-testid="marker-max"]').waitFor();
      const min = Number(await detail.locator('[data-testid="stat"][data-key="min"]').getAttribute('data-value'));
      assert.equal(min, -12.5, 'the planted super weight is the exact minimum');
      const expected = ctx.cli('base/model.safetensors').tensors.find((t) => t.name === name).stats;
      const median = Number(await detail.locator('[data-testid="quantile"][data-key="0.5"]').getAttribute('data-value'));
      assert.equal(median, expected.quantiles['0.5']);
      await detail.locator('[data-testid="hist-xscale"] button[data-option="log"]').click();
      await frame.locator('[data-testid="hist-xscale"][data-value="log"]').waitFor();
      // On the log-|x| axis the bulk spreads over many bins although one -12.5 squeezes the linear axis.
      await waitFor(async () => (await frame.locator('svg[data-testid="histogram"] rect.bar').count()) > 10, 10_000, 'log-|x| bars');
      assert.match(await frame.locator('[data-testid="tails"]').innerText(), /±6σ/);
      await ctx.shot('detail-histogram');
    },
  },
  {
    name: 'filtering narrows the rows and sorting by absmax orders them',
    async run(ctx) {
      const frame = await openCheckpoint(ctx, 'base/model.safetensors');
      await waitForScan(frame);
      await filterTo(frame, 'q_proj');
      await waitFor(async () => (await frame.locator('[data-testid="tensor-row"]').count()) === 4, 10_000, 'four q_proj rows');
      const names = await frame.locator('[data-testid="tensor-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')));
      assert.ok(names.every((n) => n.includes('q_proj')), names.join(', '));
      await filterTo(frame, '');
      const header = frame.locator('[data-testid="col-header"][data-col="absmax"]');
      await header.click();
      await frame.locator('[data-testid="col-header"][data-col="absmax"][data-sort="desc"]').waitFor();
      const values = await frame
        .locator('[data-testid="tensor-row"] [data-col="absmax"]')
        .evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-value'))));
      assert.ok(values.length > 5);
      for (let i = 1; i < values.length; i++) assert.ok(values[i - 1] >= values[i], `row ${i}: ${values[i - 1]} then ${values[i]}`);
      await header.click();
      await frame.locator('[data-testid="col-header"][data-col="absmax"][data-sort="asc"]').waitFor();
    },
  },
  {
    name: 'anomalies stand out: NaN/Inf, all-zero and constant tensors',
    async run(ctx) {
      const frame = await openCheckpoint(ctx, 'anomalies.safetensors');
      await waitForScan(frame);
      const badge = (tensor, kind) => frame.locator(`[data-testid="tensor-row"][data-name="${tensor}"] [data-testid="badge"][data-kind="${kind}"]`);
      await badge('diverged.weight', 'nan').waitFor();
      await badge('diverged.weight', 'inf').waitFor();
      await badge('unused.bias', 'zero').waitFor();
      await badge('fresh_init.layernorm.weight', 'constant').waitFor();
      await badge('heavy_tailed.weight', 'kurtosis').waitFor();
      await ctx.shot('anomalies');
    },
  },
  {
    name: 'a malformed file shows the error view with its code',
    async run(ctx) {
      const frame = await openCheckpoint(ctx, 'broken.safetensors');
      await frame.locator('[data-testid="error-view"]').waitFor();
      assert.equal(await frame.locator('[data-testid="error-code"]').innerText(), 'INCOMPLETE_BUFFER');
      assert.match(await frame.locator('[data-testid="error-file"]').innerText(), /broken\.safetensors$/);
      assert.match(await frame.locator('[data-testid="error-message"]').innerText(), /cover/);
      await ctx.shot('error-view');
    },
  },
  {
    name: 'a sharded index opens through "Reopen Editor With…"',
    async run(ctx) {
      await closeAllEditors(ctx.page);
      await quickOpen(ctx.page, 'sharded/model.safetensors.index.json');
      await ctx.page.locator('.monaco-editor .view-lines').first().waitFor({ timeout: 20_000 });
      await runCommand(ctx.page, 'View: Reopen Editor With...');
      await ctx.page.locator('.quick-input-list .monaco-list-row', { hasText: 'Weightscope Sharded Checkpoint Viewer' }).first().click();
      const frame = ctx.frame();
      await frame.locator('#app[data-view="checkpoint"]').waitFor({ timeout: 30_000 });
      assert.match(await frame.locator('[data-testid="summary"]').innerText(), /files\s*2/i);
      await waitForScan(frame);
      await ctx.shot('sharded');
    },
  },
  {
    name: 'the view state (filter, selection, detail tab) comes back with the tab',
    async run(ctx) {
      let frame = await openCheckpoint(ctx, 'base/model.safetensors');
      await waitForScan(frame);
      const name = 'model.layers.2.self_attn.v_proj.weight';
      await filterTo(frame, 'layers.2.self_attn.v');
      await frame.locator(`[data-testid="tensor-row"][data-name="${name}"]`).click();
      await frame.locator(`[data-testid="tensor-detail"][data-name="${name}"]`).waitFor();
      // Another checkpoint in front hides this webview (it is not retained); coming back restores its state.
      await quickOpen(ctx.page, 'anomalies.safetensors');
      await ctx.frame().locator('[data-testid="summary"] h1:text-is("anomalies.safetensors")').waitFor({ timeout: 30_000 });
      await quickOpen(ctx.page, 'base/model.safetensors');
      frame = ctx.frame();
      await frame.locator(`[data-testid="tensor-detail"][data-name="${name}"]`).waitFor({ timeout: 30_000 });
      assert.equal(await frame.locator('[data-testid="filter"]').evaluate((f) => f.value), 'layers.2.self_attn.v');
      await frame.locator(`[data-testid="tensor-row"][data-name="${name}"][aria-selected="true"]`).waitFor();
    },
  },
  {
    name: 'keyboard: arrows move the cursor, Right and Left open and close layer groups, Enter selects',
    async run(ctx) {
      const frame = await openCheckpoint(ctx, 'base/model.safetensors');
      await waitForScan(frame);
      await filterTo(frame, '');
      const group = frame.locator('[data-testid="group-row"][data-group="model.layers.0"]');
      await group.click(); // opens it and puts the cursor there
      await frame.locator('[data-testid="group-row"][data-group="model.layers.0"][aria-expanded="true"]').waitFor();
      await ctx.page.keyboard.press('ArrowLeft');
      await frame.locator('[data-testid="group-row"][data-group="model.layers.0"][aria-expanded="false"]').waitFor();
      await ctx.page.keyboard.press('ArrowRight');
      await frame.locator('[data-testid="group-row"][data-group="model.layers.0"][aria-expanded="true"]').waitFor();
      await ctx.page.keyboard.press('ArrowDown');
      const first = 'model.layers.0.input_layernorm.weight';
      await frame.locator(`[data-testid="tensor-row"][data-name="${first}"][aria-selected="true"]`).waitFor();
      await frame.locator(`[data-testid="tensor-detail"][data-name="${first}"]`).waitFor();
      await ctx.page.keyboard.press('ArrowDown');
      await frame.locator('[data-testid="group-row"][data-group="model.layers.0.self_attn"][aria-selected="true"]').waitFor();
      await ctx.page.keyboard.press('Enter'); // a group: Enter toggles it
      await frame.locator('[data-testid="group-row"][data-group="model.layers.0.self_attn"][aria-expanded="false"]').waitFor();
    },
  },
  {
    name: 'rescan computes the statistics again',
    async run(ctx) {
      const frame = await openCheckpoint(ctx, 'anomalies.safetensors');
      await waitForScan(frame);
      await frame.locator('[data-testid="rescan"]').click();
      await waitForScan(frame);
      const status = frame.locator('[data-testid="scan-status"]');
      assert.equal(await status.getAttribute('data-done-tensors'), '5');
      await frame.locator('[data-testid="tensor-row"][data-name="diverged.weight"] [data-testid="badge"][data-kind="nan"]').waitFor();
    },
  },
  {
    name: 'the dark theme renders the tree and the detail',
    async run(ctx) {
      await runCommand(ctx.page, 'Preferences: Toggle between Light/Dark Themes');
      await ctx.page.locator('.monaco-workbench.vs-dark').waitFor({ timeout: 20_000 });
      const frame = await openCheckpoint(ctx, 'base/model.safetensors');
      await waitForScan(frame);
      await filterTo(frame, 'embed');
      await frame.locator('[data-testid="tensor-row"][data-name="model.embed_tokens.weight"]').click();
      await frame.locator('svg[data-testid="histogram"] rect.bar').first().waitFor();
      const background = await frame.locator('body').evaluate((b) => getComputedStyle(b).backgroundColor);
      const [r, g, bl] = background.match(/\d+/g).map(Number);
      assert.ok(r + g + bl < 200, `dark background expected, got ${background}`);
      await ctx.shot('dark-theme');
    },
  },
  {
    name: 'a high-contrast theme keeps the tree and the histogram legible',
    async run(ctx) {
      await runCommand(ctx.page, 'Preferences: Color Theme');
      const input = ctx.page.locator('.quick-input-widget .quick-input-box input');
      await input.fill('Dark High Contrast');
      await ctx.page.locator('.quick-input-list .monaco-list-row', { hasText: 'Dark High Contrast' }).first().click();
      await ctx.page.locator('.monaco-workbench.hc-black').waitFor({ timeout: 20_000 });
      const frame = await openCheckpoint(ctx, 'base/model.safetensors');
      await waitForScan(frame);
      await filterTo(frame, 'layers.1.mlp.down');
      await frame.locator('[data-testid="tensor-row"][data-name="model.layers.1.mlp.down_proj.weight"]').click();
      await frame.locator('svg[data-testid="histogram"] rect.bar').first().waitFor();
      await ctx.shot('high-contrast');
    },
  },
];
