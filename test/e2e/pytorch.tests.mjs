// End-to-end: PyTorch files in the editor. Their endings are generic, so they open through "Reopen Editor With…" or
// the "Weightscope: Open Checkpoint" command, never by default.
import assert from 'node:assert/strict';
import { closeAllEditors, quickOpen, runCommand, waitFor } from './codeServer.mjs';

const SCAN_TIMEOUT = 60_000;

/** Quick-opens a file VS Code shows as binary and waits until its tab is the active one. */
async function openPlaceholder(ctx, relativePath) {
  await closeAllEditors(ctx.page);
  await quickOpen(ctx.page, relativePath);
  const name = relativePath.split('/').pop();
  await ctx.page.locator('.tab.active', { hasText: name }).waitFor({ timeout: 20_000 });
  await ctx.page.getByText('The file is not displayed in the text editor').waitFor({ timeout: 20_000 });
  await ctx.page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
}

async function checkpointFrame(ctx) {
  const frame = ctx.frame();
  await frame.locator('#app[data-view="checkpoint"]').waitFor({ timeout: 30_000 });
  return frame;
}

export const tests = [
  {
    name: 'a .pt state dict opens through "Reopen Editor With…", and its statistics match the CLI',
    async run(ctx) {
      await openPlaceholder(ctx, 'pytorch/model.pt');
      await runCommand(ctx.page, 'View: Reopen Editor With...');
      await ctx.page.locator('.quick-input-list .monaco-list-row', { hasText: 'Weightscope Checkpoint Viewer' }).first().click();
      const frame = await checkpointFrame(ctx);
      const summary = await frame.locator('[data-testid="summary"]').innerText();
      assert.match(summary, /pytorch/);
      assert.equal(await frame.locator('[data-testid="findings"]').count(), 0, 'a plain state dict has no security note');
      await frame.locator('[data-testid="scan-status"][data-state="done"]').waitFor({ timeout: SCAN_TIMEOUT });
      const report = ctx.cli('pytorch/model.pt');
      const name = 'model.layers.0.self_attn.q_proj.weight_t';
      await frame.locator('[data-testid="filter"] input').fill('q_proj');
      const row = frame.locator(`[data-testid="tensor-row"][data-name="${name}"]`);
      await row.waitFor();
      const expected = report.tensors.find((t) => t.name === name).stats;
      for (const column of ['mean', 'std', 'absmax']) {
        const value = Number(await row.locator(`[data-col="${column}"]`).getAttribute('data-value'));
        assert.ok(Math.abs(value - expected[column]) <= 1e-9 * Math.max(1, Math.abs(expected[column])), `${column}: ${value} vs ${expected[column]}`);
      }
      // The transposed view has the statistics of the weight it views.
      const original = report.tensors.find((t) => t.name === 'model.layers.0.self_attn.q_proj.weight').stats;
      assert.equal(expected.mean, original.mean);
      await ctx.shot('pytorch-open-with');
    },
  },
  {
    name: 'a pickle that references os.system opens with a visible security note, through the command',
    async run(ctx) {
      await openPlaceholder(ctx, 'pytorch/unsafe.pt');
      await runCommand(ctx.page, 'Weightscope: Open Checkpoint');
      const frame = await checkpointFrame(ctx);
      const note = frame.locator('[data-testid="findings"]');
      await note.waitFor();
      const finding = note.locator('[data-testid="finding"][data-code="UNSAFE_GLOBAL"]');
      assert.equal(await finding.count(), 1);
      assert.match(await finding.innerText(), /os\.system/);
      await frame.locator('[data-testid="scan-status"][data-state="done"]').waitFor({ timeout: SCAN_TIMEOUT });
      assert.equal(await frame.locator('[data-fact="tensors"] .value').innerText(), '3', 'the tensors still open');
      await waitFor(async () => (await ctx.page.locator('.tab', { hasText: 'unsafe.pt' }).count()) === 1, 10_000, 'the checkpoint to replace the binary-file notice');
      await ctx.shot('pytorch-security-note');
    },
  },
];
