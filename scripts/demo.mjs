// npm run demo (the README's first command, after scripts/setup.sh): builds everything, writes the demo folder and
// opens the extension in a real VS Code on it — desktop `code` when it is on PATH, otherwise code-server on
// 127.0.0.1 with the URL printed (it keeps running until Ctrl+C).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot, startCodeServer } from '../test/e2e/codeServer.mjs';

const demoDir = join(projectRoot, '.cache/demo');
const sharedCheckpoints = join(projectRoot, '../shared/checkpoints');

execFileSync('npm', ['run', '--silent', 'build'], { cwd: projectRoot, stdio: 'inherit' });

rmSync(demoDir, { recursive: true, force: true });
mkdirSync(demoDir, { recursive: true });
execFileSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'test/fixtures/makeDemo.ts'), demoDir], { cwd: projectRoot, stdio: 'inherit' });
if (existsSync(sharedCheckpoints)) symlinkSync(sharedCheckpoints, join(demoDir, 'shared-checkpoints'), 'dir');
writeFileSync(
  join(demoDir, 'README.md'),
  `# Weightscope demo

- \`base/model.safetensors\` — a small Llama-shaped BF16 model with planted outlier input channels 37 and 190 and
  one extreme scalar (−12.5 in \`model.layers.1.mlp.down_proj.weight\`, row 42, column 400). Click it: the tensor
  tree appears at once, statistics stream in; select a tensor for its histogram.
- \`finetune/model.safetensors\` — a fine-tune of it (rank-4 q/v deltas; layer 0 and the embeddings frozen): open it and
  run *Weightscope: Compare with Base…* with \`base/model.safetensors\` for the layer profile.
- \`finetune-b/model.safetensors\` — a second fine-tune (rank-4 o/down deltas): *Weightscope: Merge Fine-tunes…* on the
  base with both fine-tunes previews TIES, DARE, TALL… and exports the merge.
- \`adapter/\`, \`adapter-b/\` — two independently trained PEFT LoRA adapters with their adapter_config.json: a factor's
  *LoRA ΔW* tab, and comparing the two (Explorer: select both → *Compare Selected Checkpoints*).
- \`sharded/model.safetensors.index.json\` — the base in two shards: right-click → *Open With…* → Weightscope.
- \`anomalies.safetensors\` — NaN/Inf, all-zero, constant and heavy-tailed tensors.
- \`broken.safetensors\` — a truncated file: the error view.
${existsSync(sharedCheckpoints) ? '- `shared-checkpoints/` — real checkpoints written by other people\'s tools.\n' : ''}`,
);

const hasCode = spawnSync('sh', ['-c', 'command -v code'], { stdio: 'ignore' }).status === 0;
if (hasCode) {
  execFileSync('code', ['--extensionDevelopmentPath', projectRoot, demoDir, join(demoDir, 'base/model.safetensors')], { stdio: 'inherit' });
  console.log(`VS Code opened ${demoDir} with Weightscope loaded.`);
} else {
  execFileSync('bash', [join(projectRoot, 'scripts/setup-e2e.sh')], { stdio: 'inherit' });
  const port = Number(process.env.WEIGHTSCOPE_DEMO_PORT ?? 8123);
  const server = await startCodeServer({ folder: demoDir, port, settings: { 'workbench.colorTheme': 'Default Dark Modern' } });
  console.log(`\nWeightscope demo: open this URL in a browser (code-server, VS Code 1.100, extension loaded):\n\n  ${server.url}\n`);
  console.log(`The demo folder is ${demoDir}; click base/model.safetensors. Press Ctrl+C to stop.`);
  const stop = () => {
    server.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await new Promise(() => {});
}
