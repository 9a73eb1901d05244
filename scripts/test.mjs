// npm test: every suite — Rust kernels, TypeScript unit and golden tests, end-to-end in real VS Code — then one
// closing line "N passed, M failed, K skipped". `--only unit|rust|e2e` runs one group; WEIGHTSCOPE_SKIP_E2E=1 skips E2E.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const totals = { passed: 0, failed: 0, skipped: 0 };

/** Runs a command, echoing its output, and returns the output for counting. */
function run(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const echo = (stream) => (chunk) => {
      output += chunk;
      stream.write(chunk);
    };
    child.stdout.on('data', echo(process.stdout));
    child.stderr.on('data', echo(process.stderr));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

function findTests(dir, pattern, found = []) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) findTests(path, pattern, found);
    else if (pattern.test(entry)) found.push(relative(root, path));
  }
  return found.sort();
}

function sum(output, regex) {
  return [...output.matchAll(regex)].reduce((n, m) => n + Number(m[1]), 0);
}

async function step(name, command, args, count, options) {
  console.log(`\n=== ${name}`);
  const { code, output } = await run(command, args, options);
  const counted = count(output);
  totals.passed += counted.passed;
  totals.failed += counted.failed;
  totals.skipped += counted.skipped;
  if (code !== 0 && counted.failed === 0) {
    console.log(`${name} exited with status ${code}`);
    totals.failed += 1;
  }
}

const exitOnly = (output) => ({ passed: 0, failed: 0, skipped: 0 });
const cargoCounts = (output) => ({
  passed: sum(output, /test result: \w+\. (\d+) passed/g),
  failed: sum(output, /test result: \w+\. \d+ passed; (\d+) failed/g),
  skipped: sum(output, /test result: \w+\. \d+ passed; \d+ failed; (\d+) ignored/g),
});
const nodeCounts = (output) => ({
  passed: sum(output, /^ℹ pass (\d+)$/gm),
  failed: sum(output, /^ℹ fail (\d+)$/gm),
  skipped: sum(output, /^ℹ skipped (\d+)$/gm) + sum(output, /^ℹ todo (\d+)$/gm),
});
const plainCounts = (output) => {
  const m = [...output.matchAll(/^(?:\w+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/gm)].pop();
  return m ? { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] ?? 0) } : { passed: 0, failed: 0, skipped: 0 };
};

await step('build', 'npm', ['run', '--silent', 'build'], exitOnly);
if (!only || only === 'unit') await step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'], exitOnly);
if (!only || only === 'rust') {
  // Native kernel tests use whichever cargo is on PATH (rustup's or Debian's).
  await step('rust kernels (cargo test)', 'cargo', ['test', '--release', '--manifest-path', 'wasm/Cargo.toml'], cargoCounts);
}
if (!only || only === 'unit') {
  const files = [...findTests(join(root, 'test/unit'), /\.test\.ts$/), ...findTests(join(root, 'test/golden'), /\.test\.ts$/)];
  await step('unit and golden tests (node:test)', 'node', ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], nodeCounts);
}
if ((!only || only === 'e2e') && process.env.WEIGHTSCOPE_SKIP_E2E !== '1') {
  await step('end-to-end in VS Code (code-server + Chromium)', 'node', ['scripts/e2e.mjs'], plainCounts);
}

console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exitCode = totals.failed > 0 ? 1 : 0;
