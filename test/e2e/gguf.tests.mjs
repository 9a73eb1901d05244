// End-to-end tests of GGUF files in the checkpoint editor: opened by default, header with summarized metadata,
// statistics of quantized tensors matching the CLI, and the Blocks tab with its grid of block scales.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { filterTo, openCheckpoint, waitForScan } from './checkpointEditor.tests.mjs';
import { join } from 'node:path';
import { projectRoot, waitFor } from './codeServer.mjs';

const DEMO = 'quantized/model.gguf';

function close(actual, expected, what) {
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: webview ${actual}, CLI ${expected}`);
}

export const tests = [
  {
    name: 'a GGUF file opens by default: header, summarized metadata, statistics of quantized tensors match the CLI',
    async run(ctx) {
      const frame = await openCheckpoint(ctx, DEMO);
      const summary = frame.locator('[data-testid="summary"]');
      await summary.waitFor();
      assert.match(await summary.innerText(), /gguf/);
      assert.match(await frame.locator('.fact[data-fact="architecture"]').innerText(), /llama/);
      assert.match(await summary.innerText(), /Q4_K/);
      const metadata = frame.locator('[data-testid="metadata"]');
      await metadata.locator('summary').first().click();
      assert.match(await metadata.innerText(), /tokenizer\.ggml\.tokens\s+\[1024 × string: "<unk>", "<s>", "<\/s>", …\]/);
      assert.match(await metadata.innerText(), /llama\.attention\.head_count\s+4/);
      await ctx.shot('gguf-header');
      await waitForScan(frame);
      const report = ctx.cli(DEMO);
      assert.equal(report.format, 'gguf');
      for (const name of ['blk.1.attn_q.weight', 'token_embd.weight', 'blk.1.ffn_down.weight']) {
        await filterTo(frame, name);
        const row = frame.locator(`[data-testid="tensor-row"][data-name="${name}"]`);
        await row.waitFor();
        const expected = report.tensors.find((t) => t.name === name);
        assert.match(await row.innerText(), new RegExp(expected.dtype));
        for (const column of ['mean', 'std', 'absmax']) {
          close(Number(await row.locator(`[data-col="${column}"]`).getAttribute('data-value')), expected.stats[column], `${name} ${column}`);
        }
      }
    },
  },
  {
    name: 'the Blocks tab shows the scale distribution, the edges and where the large scales sit',
    async run(ctx) {
      const frame = await openCheckpoint(ctx, DEMO);
      await waitForScan(frame);
      const name = 'blk.1.ffn_down.weight';
      await filterTo(frame, name);
      await frame.locator(`[data-testid="tensor-row"][data-name="${name}"]`).click();
      const detail = frame.locator(`[data-testid="tensor-detail"][data-name="${name}"]`);
      await detail.locator('[data-testid="detail-tabs"] vscode-tab-header[data-tab="blocks"]').click();
      const panel = detail.locator('[data-testid="blocks-panel"]');
      await panel.waitFor({ timeout: 30_000 });
      await panel.locator('[data-testid="scale-d"] svg[data-testid="histogram"] rect.bar').first().waitFor();
      const canvas = panel.locator('canvas[data-testid="scale-grid"]');
      await canvas.waitFor();
      await ctx.shot('gguf-blocks');
      // The CLI's analysis with the editor's grid size agrees; the planted super weight (row 42, column 400) is in
      // the hottest cell, and pointing at it says so.
      const cli = JSON.parse(execFileSync(process.execPath, [join(projectRoot, 'dist/cli.js'), 'blocks', join(ctx.workspace, DEMO), '--json', '--grid', '256', '--tensor', name]).toString());
      const grid = cli.tensors[0].analysis.grid;
      assert.equal(await canvas.getAttribute('height'), String(grid.rows));
      assert.equal(await canvas.getAttribute('width'), String(grid.cols));
      const box = await canvas.boundingBox();
      const [row, col] = [Math.floor(42 / grid.rowsPerCell), Math.floor(12 / grid.blocksPerCell)];
      await canvas.hover({ position: { x: ((col + 0.5) / grid.cols) * box.width, y: ((row + 0.5) / grid.rows) * box.height } });
      const readout = panel.locator('[data-testid="grid-readout"]');
      await waitFor(async () => /^rows 42–42, blocks 12–12: largest \|d\| 0\.09/.test(await readout.innerText()), 10_000, 'read-out of the hot cell');
      assert.match(await panel.innerText(), /blocks reaching an edge code/);
      await ctx.shot('gguf-blocks-grid');
    },
  },
];
