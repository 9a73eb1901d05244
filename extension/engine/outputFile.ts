/**
 * A file Weightscope writes (a merged model, masks, a configuration or keep list): written under a temporary name
 * beside its target (its folder created when missing), and renamed into place only when complete. A model's header
 * goes first and then data at known offsets (by any worker, with positional writes). Inputs are never overwritten.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Checkpoint } from '../formats/checkpoint';
import type { SafetensorsPlan } from '../formats/safetensorsLayout';

export class OutputFile {
  private constructor(
    readonly path: string,
    readonly tempPath: string,
  ) {}

  /** Creates the temporary file with the plan's header and its full size (data filled in later). */
  static async create(path: string, plan: SafetensorsPlan): Promise<OutputFile> {
    const tempPath = await temporaryPath(path);
    const handle = await open(tempPath, 'wx');
    try {
      await handle.write(plan.header, 0, plan.header.length, 0);
      await handle.truncate(plan.totalBytes);
    } finally {
      await handle.close();
    }
    return new OutputFile(path, tempPath);
  }

  async commit(): Promise<void> {
    await rename(this.tempPath, this.path);
  }

  async discard(): Promise<void> {
    await rm(this.tempPath, { force: true });
  }
}

/** A fresh temporary name beside `path`, its folder created when missing. */
async function temporaryPath(path: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  return join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.partial`);
}

/** Writes a small text file whole: under a temporary name, renamed into place when written. */
export async function writeTextFile(path: string, text: string): Promise<void> {
  const tempPath = await temporaryPath(path);
  try {
    await writeFile(tempPath, text, { flag: 'wx' });
    await rename(tempPath, path);
  } catch (error) {
    await rm(tempPath, { force: true });
    throw error;
  }
}

/**
 * Every file an output must not overwrite for one input: the path given, the `*.index.json` read (also when a folder
 * was given) and the checkpoint's files.
 */
export function inputFiles(input: { path: string; checkpoint: Checkpoint }): string[] {
  return [input.path, ...(input.checkpoint.index ? [input.checkpoint.index] : []), ...input.checkpoint.files.map((f) => f.path)];
}

/** The canonical path of a file that may not exist yet (its folder resolved). */
function canonical(path: string): string {
  if (existsSync(path)) return realpathSync(path);
  const folder = dirname(resolve(path));
  return join(existsSync(folder) ? realpathSync(folder) : folder, basename(path));
}

/**
 * Why writing to `outputs` would be wrong: an output that is an input file or a folder, or two outputs that are the
 * same file. Undefined when all is well.
 */
export function outputConflict(outputs: readonly { flag: string; path: string }[], inputs: readonly string[]): string | undefined {
  const inputSet = new Map(inputs.map((p) => [canonical(p), p]));
  const seen = new Map<string, string>();
  for (const { flag, path } of outputs) {
    const key = canonical(path);
    const input = inputSet.get(key);
    if (input !== undefined) return `${flag} ${path} is an input (${input}): Weightscope never overwrites its inputs`;
    if (statSync(key, { throwIfNoEntry: false })?.isDirectory()) return `${flag} ${path} is a folder: name the file to write`;
    const other = seen.get(key);
    if (other !== undefined) return `${flag} and ${other} name the same file ${path}`;
    seen.set(key, flag);
  }
  return undefined;
}
