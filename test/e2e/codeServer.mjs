// Runs the extension in a real VS Code (code-server 4.100.3, Node extension host) under headless Chromium driven
// by playwright-core. Recipe: ../shared/reference/vscode-e2e.md.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const projectRoot = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const entry = join(projectRoot, '.cache/e2e/node_modules/code-server/out/node/entry.js');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`);
}

/**
 * Starts code-server on a free loopback port with scratch profile folders and the given user settings.
 * Returns { url, stop }, where url opens `folder` with this project loaded as the extension under development.
 */
export async function startCodeServer({ folder, settings = {}, port }) {
  const scratch = mkdtempSync(join(tmpdir(), 'weightscope-code-server-'));
  const userData = join(scratch, 'user-data');
  mkdirSync(join(userData, 'User'), { recursive: true });
  writeFileSync(
    join(userData, 'User', 'settings.json'),
    JSON.stringify({
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'security.workspace.trust.enabled': false,
      'extensions.ignoreRecommendations': true,
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'workbench.enableExperiments': false,
      'chat.disableAIFeatures': true,
      ...settings,
    }),
  );
  const chosenPort = port ?? (await freePort());
  const env = {
    ...process.env,
    HOME: scratch,
    XDG_CONFIG_HOME: join(scratch, 'config'),
    XDG_DATA_HOME: join(scratch, 'data'),
    TMPDIR: join(scratch, 'tmp'),
  };
  mkdirSync(env.TMPDIR, { recursive: true });
  const child = spawn(
    process.execPath,
    [entry, '--auth', 'none', '--bind-addr', `127.0.0.1:${chosenPort}`, '--user-data-dir', userData,
      '--extensions-dir', join(scratch, 'extensions'), '--disable-telemetry', '--disable-update-check',
      '--disable-workspace-trust', '--disable-getting-started-override'],
    { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const base = `http://127.0.0.1:${chosenPort}`;
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  try {
    await waitFor(async () => (await fetch(`${base}/healthz`)).ok, 60_000, `code-server on ${base} (log: ${log.slice(-500)})`);
  } catch (error) {
    stop();
    throw error;
  }
  const payload = JSON.stringify([['extensionDevelopmentPath', `vscode-remote://127.0.0.1:${chosenPort}${projectRoot}`]]);
  const url = `${base}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(payload)}`;
  return { url, stop, log: () => log };
}

export async function launchBrowser() {
  // playwright-core gives every launch a fresh temporary profile.
  const profile = mkdtempSync(join(tmpdir(), 'weightscope-chromium-'));
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    env: { ...process.env, XDG_CONFIG_HOME: join(profile, 'config') },
  });
}

/** Opens the workbench and waits until our extension has registered its commands. */
export async function openWorkbench(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(url);
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  await page.locator('.explorer-folders-view, .explorer-viewlet').first().waitFor({ timeout: 60_000 });
  await waitFor(async () => {
    await runCommandPaletteQuery(page, '>Weightscope: Open Checkpoint', false);
    const found = await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Weightscope: Open Checkpoint' }).count();
    await page.keyboard.press('Escape');
    return found > 0;
  }, 60_000, 'the Weightscope extension to register');
  return page;
}

/**
 * Opens Quick Open with `text` typed in (a leading ">" makes it the command palette). It clicks the title bar's
 * command center rather than pressing Ctrl+P or F1, because keys pressed while a webview has focus stay there.
 */
async function openQuickInput(page, text) {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  if (await input.isVisible()) await page.keyboard.press('Escape'); // a widget left open covers the command center
  await page.locator('.command-center .command-center-center').first().click();
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  // The widget may reset its text just after it shows: type until the text stays put across two looks.
  let settled = 0;
  await waitFor(async () => {
    if ((await input.inputValue()) !== text) {
      await input.fill(text);
      settled = 0;
      return false;
    }
    return ++settled >= 2;
  }, 10_000, `the quick input to hold "${text}"`);
}

async function runCommandPaletteQuery(page, text, submit) {
  await openQuickInput(page, text);
  await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ timeout: 10_000 }).catch(() => {});
  if (submit) await page.keyboard.press('Enter');
}

/** Quick Open (Ctrl+P) a file of the workspace by its relative path; .safetensors opens in our editor. */
export async function quickOpen(page, relativePath) {
  await openQuickInput(page, relativePath);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: relativePath.split('/').pop() }).first().waitFor({ timeout: 20_000 });
  await page.keyboard.press('Enter');
}

/** Runs a command by its exact palette title. */
export async function runCommand(page, title) {
  await runCommandPaletteQuery(page, `>${title}`, false);
  const exact = new RegExp(`^${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  const row = page.locator('.quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: exact }) });
  await row.first().click({ timeout: 10_000 });
}

/** The content frame of the webview on screen (hidden editors keep their iframes in the DOM). */
export function webviewFrame(page) {
  return page.frameLocator('iframe.webview.ready >> visible=true').last().frameLocator('#active-frame');
}

export async function closeAllEditors(page) {
  await runCommand(page, 'View: Close All Editors');
}
