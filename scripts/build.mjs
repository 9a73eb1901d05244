// npm run build: the WASM core (when its sources changed) and the four bundles in dist/.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'target') continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const wasmOut = join(dist, 'weightscope.wasm');
if (!existsSync(wasmOut) || statSync(wasmOut).mtimeMs < newestMtime(join(root, 'wasm'))) {
  execFileSync('bash', [join(root, 'scripts/build-wasm.sh')], { stdio: 'inherit' });
}

const node = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', sourcemap: true, logLevel: 'warning' };
await Promise.all([
  esbuild.build({ ...node, entryPoints: [join(root, 'extension/extension.ts')], outfile: join(dist, 'extension.js'), external: ['vscode'] }),
  esbuild.build({ ...node, entryPoints: [join(root, 'extension/engine/worker.ts')], outfile: join(dist, 'worker.js') }),
  esbuild.build({ ...node, entryPoints: [join(root, 'extension/cli/main.ts')], outfile: join(dist, 'cli.js') }),
  esbuild.build({
    bundle: true, platform: 'browser', format: 'iife', target: 'es2022', minify: true, sourcemap: true, logLevel: 'warning',
    entryPoints: [join(root, 'webview/main.ts')], outfile: join(dist, 'webview.js'),
  }),
]);
chmodSync(join(dist, 'cli.js'), 0o755);
console.log('built dist/: extension.js worker.js cli.js webview.js weightscope.wasm');
