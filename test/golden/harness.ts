/**
 * What the golden tests share: the built CLI, the real checkpoints beside the clone, and the Python reference
 * scripts in this folder (independent float64 implementations run at test time; scripts/setup.sh installs their
 * packages, and without them the tests skip, saying so).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const root = join(__dirname, '../..');
export const cliPath = join(root, 'dist/cli.js');

/** `../shared/checkpoints` beside the clone, when that folder exists. */
export const sharedCheckpoints: string | undefined = [join(root, '../shared/checkpoints')].find((dir) => existsSync(dir));

const MAX_OUTPUT = 256 << 20;

/** The skip reason when python3 cannot import every one of `modules`, else false. */
export function missingPython(...modules: string[]): string | false {
  const ok = spawnSync('python3', ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0;
  return !ok && `python3 with ${modules.join(' and ')} is not installed (scripts/setup.sh installs them)`;
}

/** `weightscope ARGS` on the built CLI, its stdout parsed as JSON (stderr ignored; a non-zero exit throws). */
export function cliJson<T>(...args: string[]): T {
  return JSON.parse(execFileSync(process.execPath, [cliPath, ...args], { maxBuffer: MAX_OUTPUT, stdio: ['ignore', 'pipe', 'ignore'] }).toString()) as T;
}

/** A reference script of this folder. */
export class ReferenceScript {
  private readonly path: string;
  private fixtureDir: string | undefined;

  constructor(file: string) {
    this.path = join(__dirname, file);
  }

  /** Its stdout for `ARGS`. */
  text(...args: string[]): string {
    return execFileSync('python3', [this.path, ...args], { maxBuffer: MAX_OUTPUT }).toString();
  }

  json<T>(...args: string[]): T {
    return JSON.parse(this.text(...args)) as T;
  }

  /** A temporary folder holding what `SCRIPT make-fixtures DIR` writes, made on first use. */
  fixtures(): string {
    if (!this.fixtureDir) {
      const dir = mkdtempSync(join(tmpdir(), 'weightscope-golden-'));
      this.text('make-fixtures', dir);
      this.fixtureDir = dir;
    }
    return this.fixtureDir;
  }
}
