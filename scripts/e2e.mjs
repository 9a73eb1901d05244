// npm run test:e2e [NAME…]: every test/e2e/*.tests.mjs suite (or those whose file name contains a NAME), each in a
// fresh code-server under headless Chromium; prints "N passed, M failed".
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { launchBrowser, openWorkbench, projectRoot, startCodeServer, webviewFrame } from '../test/e2e/codeServer.mjs';

const TEST_TIMEOUT_MS = 150_000;
const results = join(projectRoot, 'test-results');
mkdirSync(results, { recursive: true });
// A failure screenshot from an earlier run would read as a failure of this one.
for (const name of readdirSync(results)) if (name.startsWith('fail-')) rmSync(join(results, name));

execFileSync('bash', [join(projectRoot, 'scripts/setup-e2e.sh')], { stdio: 'inherit' });
if (!existsSync(join(projectRoot, 'dist/extension.js'))) execFileSync('npm', ['run', 'build'], { cwd: projectRoot, stdio: 'inherit' });

const workspace = mkdtempSync(join(tmpdir(), 'weightscope-e2e-'));
for (const fixture of ['makeDemo.ts', 'onnxDemo.ts']) {
  execFileSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'test/fixtures', fixture), workspace], { cwd: projectRoot, stdio: 'inherit' });
}

const cliCache = new Map();
function cli(relativePath) {
  if (!cliCache.has(relativePath)) {
    const out = execFileSync(process.execPath, [join(projectRoot, 'dist/cli.js'), 'stats', join(workspace, relativePath), '--json'], { maxBuffer: 64 << 20 });
    cliCache.set(relativePath, JSON.parse(out.toString()));
  }
  return cliCache.get(relativePath);
}

let passed = 0;
let failed = 0;

async function runSuite(suite) {
  let server;
  let browser;
  let started = 0;
  try {
    server = await startCodeServer({ folder: workspace });
    browser = await launchBrowser();
    const page = await openWorkbench(browser, server.url);
    for (const test of suite) {
      started++;
      const ctx = {
        page,
        frame: () => webviewFrame(page),
        cli,
        workspace,
        shot: async (name) => {
          const file = join(results, `${name}.png`);
          await page.screenshot({ path: file });
          console.log(`  screenshot ${relative(projectRoot, file)}`);
        },
      };
      const startedAt = Date.now();
      try {
        await Promise.race([
          test.run(ctx),
          new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${TEST_TIMEOUT_MS} ms`)), TEST_TIMEOUT_MS)),
        ]);
        passed++;
        console.log(`ok   ${test.name} (${((Date.now() - startedAt) / 1000).toFixed(1)} s)`);
      } catch (error) {
        failed++;
        console.log(`FAIL ${test.name}\n     ${String(error.stack ?? error).split('\n').slice(0, 6).join('\n     ')}`);
        await page.screenshot({ path: join(results, `fail-${test.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`) }).catch(() => {});
      }
    }
  } catch (error) {
    failed += suite.length - started;
    console.log(`FAIL could not run the suite: ${error.message}\n${server?.log().slice(-2000) ?? ''}`);
  } finally {
    await browser?.close().catch(() => {});
    server?.stop();
  }
}

const names = process.argv.slice(2);
const suiteFiles = readdirSync(join(projectRoot, 'test/e2e'))
  .filter((f) => f.endsWith('.tests.mjs') && (names.length === 0 || names.some((n) => f.includes(n))))
  .sort();
if (suiteFiles.length === 0) {
  console.error(`no E2E suite file name contains ${names.join(' or ')}`);
  process.exit(2);
}
for (const file of suiteFiles) {
  console.log(`suite ${file}`);
  await runSuite((await import(join(projectRoot, 'test/e2e', file))).tests);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
