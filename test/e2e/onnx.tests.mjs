// End-to-end tests of ONNX models in the checkpoint editor (the workspace's onnx/tiny.onnx from
// test/fixtures/onnxDemo.ts). ".onnx" is a generic extension, so the editor is offered, never the default: these tests
// open it through the Explorer's "Open With…" and its "Open Checkpoint" command.
import assert from 'node:assert/strict';
import { closeAllEditors, quickOpen, waitFor } from './codeServer.mjs';

const MODEL = 'onnx/tiny.onnx';
const SCAN_TIMEOUT = 60_000;

async function waitForScan(frame) {
  await frame.locator('[data-testid="scan-status"][data-state="done"]').waitFor({ timeout: SCAN_TIMEOUT });
}

async function showTensor(frame, name) {
  await frame.locator('[data-testid="filter"] input').fill(name);
  const row = frame.locator(`[data-testid="tensor-row"][data-name="${name}"]`);
  await row.waitFor();
  return row;
}

/** Right-clicks onnx/tiny.onnx in the Explorer and chooses `item` from its context menu. */
async function explorerMenu(page, item) {
  const explorer = page.locator('.explorer-folders-view');
  const folder = explorer.locator('.monaco-list-row[aria-level="1"]', { hasText: /^onnx$/ });
  const file = explorer.locator('.monaco-list-row', { hasText: /^tiny\.onnx$/ });
  await waitFor(async () => {
    if ((await file.count()) === 0) await folder.click();
    return (await file.count()) > 0;
  }, 20_000, 'onnx/tiny.onnx in the Explorer');
  await file.click({ button: 'right' });
  // A menu ignores the click that may land as it opens: focus the item, then press Enter.
  await page.locator('.monaco-menu .action-item:not(.disabled) .action-label', { hasText: item }).hover();
  await page.keyboard.press('Enter');
}

function close(actual, expected, what) {
  const tolerance = 1e-9 * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: webview ${actual}, CLI ${expected}`);
}

export const tests = [
  {
    name: 'an ONNX model is not ours by default, opens through "Open With…", and its statistics match the CLI',
    async run(ctx) {
      await closeAllEditors(ctx.page);
      await quickOpen(ctx.page, MODEL);
      // Not ours by default: VS Code's own editor shows it.
      const tab = ctx.page.locator('.tabs-container .tab.active', { hasText: 'tiny.onnx' });
      await tab.waitFor({ timeout: 20_000 });
      assert.equal(await ctx.page.locator('iframe.webview.ready').count(), 0, 'no webview opened by default');
      // Its binary-file placeholder keeps the focus from the command palette: close the tab itself.
      await tab.locator('.tab-actions .codicon-close').click();
      await tab.waitFor({ state: 'detached' });
      await explorerMenu(ctx.page, /^Open With\.\.\.$/);
      await ctx.page.locator('.quick-input-list .monaco-list-row', { hasText: 'Weightscope Checkpoint Viewer' }).first().click();
      const frame = ctx.frame();
      await frame.locator('#app[data-view="checkpoint"]').waitFor({ timeout: 30_000 });
      const summary = await frame.locator('[data-testid="summary"]').innerText();
      assert.match(summary, /onnx/);
      assert.match(summary, /files\s*2/i, 'the external data file is one of the checkpoint\'s files');
      await waitForScan(frame);
      const status = frame.locator('[data-testid="scan-status"]');
      assert.equal(await status.getAttribute('data-done-tensors'), '9');
      const report = ctx.cli(MODEL);
      assert.equal(report.tensors.length, 9);
      // One tensor per storage form: raw_data, varint FLOAT16 and INT64, a Constant's value_ints, a subgraph's initializer.
      for (const name of ['encoder.layers.0.proj.weight', 'encoder.norm.weight', 'encoder.positions', '/encoder/Constant_output_0', 'gate/then_branch/scale']) {
        const row = await showTensor(frame, name);
        const expected = report.tensors.find((t) => t.name === name).stats;
        for (const column of ['mean', 'std', 'absmax']) {
          close(Number(await row.locator(`[data-col="${column}"]`).getAttribute('data-value')), expected[column], `${name} ${column}`);
        }
      }
      await frame.locator('[data-testid="filter"] input').fill('');
      await frame.locator('[data-testid="group-row"][data-group="encoder.layers"]').waitFor();
      await frame.locator('[data-testid="metadata"] summary').click();
      assert.match(await frame.locator('[data-testid="metadata"]').innerText(), /producer_name\s+weightscope-tests/);
      await ctx.shot('onnx-open-with');
    },
  },
  {
    name: 'the Explorer\'s "Open Checkpoint" opens an ONNX model; an external-data tensor and a planted minimum show in the detail',
    async run(ctx) {
      await closeAllEditors(ctx.page);
      await explorerMenu(ctx.page, /^Open Checkpoint$/);
      const frame = ctx.frame();
      await frame.locator('#app[data-view="checkpoint"]').waitFor({ timeout: 30_000 });
      await waitForScan(frame);

      const planted = 'encoder.layers.0.proj.weight';
      await (await showTensor(frame, planted)).click();
      const detail = frame.locator(`[data-testid="tensor-detail"][data-name="${planted}"]`);
      await detail.locator('[data-testid="marker-min"]').waitFor();
      assert.equal(Number(await detail.locator('[data-testid="stat"][data-key="min"]').getAttribute('data-value')), -9.5);

      const external = 'encoder.layers.1.proj.weight';
      await (await showTensor(frame, external)).click();
      const externalDetail = frame.locator(`[data-testid="tensor-detail"][data-name="${external}"]`);
      await externalDetail.locator('svg[data-testid="histogram"] rect.bar').first().waitFor();
      const expected = ctx.cli(MODEL).tensors.find((t) => t.name === external);
      assert.match(expected.file, /tiny\.onnx\.data$/);
      const median = Number(await externalDetail.locator('[data-testid="quantile"][data-key="0.5"]').getAttribute('data-value'));
      assert.equal(median, expected.stats.quantiles['0.5']);
      await ctx.shot('onnx-context-menu-detail');
    },
  },
];
