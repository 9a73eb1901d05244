/** What every `weightscope` subcommand provides, and the options they share. */
import { join } from 'node:path';
import { inputFiles, outputConflict } from '../engine/outputFile';
import { ScanEngine } from '../engine/scanEngine';
import type { Finding, TensorEntry } from '../formats/checkpoint';
import { oneLine } from '../formats/formatError';
import { openCheckpoint } from '../formats/openCheckpoint';
import { nodeSourceOpener } from '../source/nodeFileSource';
import { flagValue, globToRegExp, integerFlag, UsageError, type FlagSpec, type ParsedArgs } from './args';
import { progressLineFor } from './progress';

export interface Command {
  /** One or more lines for the usage text, indented by two spaces. */
  readonly usage: string;
  /** Flag by flag, what `weightscope <command> --help` adds after the usage lines. */
  readonly details?: string;
  /** Runs the command; resolves to the exit status. Throws UsageError (exit 2) or FormatError (exit 3). */
  run(argv: string[]): Promise<number>;
}

/** Flags every command that computes accepts. */
export const ENGINE_FLAGS: Readonly<Record<string, FlagSpec>> = {
  workers: { value: true },
  'chunk-size': { value: true },
};

/** The compute engine the flags ask for, loading worker.js and weightscope.wasm from beside the CLI. */
export function engineFromArgs(args: ParsedArgs): ScanEngine {
  const workers = integerFlag(args, 'workers', 1, 64);
  const chunkBytes = integerFlag(args, 'chunk-size', 4096, 16 << 20);
  return new ScanEngine({ distDir: distDir(), ...(workers ? { workers } : {}), ...(chunkBytes ? { chunkBytes } : {}) });
}

/** Where the bundled CLI, worker and WASM module live (dist/). */
export function distDir(): string {
  return __dirname.endsWith('cli') ? join(__dirname, '../../dist') : __dirname;
}

/**
 * An abort signal raised by Ctrl+C (SIGINT) or SIGTERM, so a command that writes files can clean up before it
 * exits; `dispose` restores the default handling.
 */
export function abortOnInterrupt(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const name of signals) process.once(name, abort);
  return { signal: controller.signal, dispose: () => signals.forEach((name) => process.off(name, abort)) };
}

/** The output flags a command was given, as (flag, path) pairs for `outputConflict`. */
export function givenOutputs(flags: Readonly<Record<string, string | undefined>>): { flag: string; path: string }[] {
  return Object.entries(flags).flatMap(([flag, path]) => (path === undefined ? [] : [{ flag, path }]));
}

/** Writes a JSON document to stdout, followed by a newline. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** Writes what a reader noticed about a file (unsafe pickle globals, …) to stderr, one note per line. */
export function printFindings(findings: readonly Finding[] | undefined): void {
  for (const finding of findings ?? []) printLine(`note: ${finding.code}: ${finding.file}: ${finding.message}`);
}

/** The --filter glob as a test of tensor names; every name passes without one. */
export function nameFilter(args: ParsedArgs): (name: string) => boolean {
  const glob = flagValue(args, 'filter');
  if (glob === undefined) return () => true;
  const pattern = globToRegExp(glob);
  return (name) => pattern.test(name);
}

/** Tells stderr that a tensor was left out of an analysis, and why. */
export function printSkipped(name: string, reason: string): void {
  printLine(`skipped ${name}: ${reason}`);
}

/** One message on stderr, kept on one line whatever names and bytes from the input it quotes. */
export function printLine(message: string): void {
  process.stderr.write(`weightscope: ${oneLine(message)}\n`);
}

/**
 * Runs a per-tensor analysis over the tensors of the checkpoint at PATH it applies to and --filter lets through, with
 * a progress line on a terminal; tensors it had to leave out are reported on stderr. Files the command will write
 * (`outputs`) are checked first: one that is a file of the checkpoint, a folder or another output is a usage error.
 */
export async function analyseSelected<O extends { problem?: { code: string; message: string } }>(
  args: ParsedArgs,
  applies: (entry: TensorEntry) => boolean,
  analyse: (entries: readonly TensorEntry[], indices: number[], onProgress: (doneBytes: number) => void) => Promise<Map<number, O>>,
  outputs: readonly { flag: string; path: string }[] = [],
): Promise<{ entries: readonly TensorEntry[]; outcomes: Map<number, O> }> {
  const filter = nameFilter(args);
  const path = args.positionals[0]!;
  const checkpoint = await openCheckpoint(path, nodeSourceOpener);
  const conflict = outputConflict(outputs, inputFiles({ path, checkpoint }));
  if (conflict) throw new UsageError(conflict);
  const entries = checkpoint.tensors;
  const indices = entries.flatMap((t, i) => (applies(t) && filter(t.name) ? [i] : []));
  const progress = progressLineFor(args, indices.reduce((sum, i) => sum + entries[i]!.bytes, 0));
  const outcomes = await analyse(entries, indices, (done) => progress?.update(done));
  progress?.clear();
  for (const i of indices) {
    const problem = outcomes.get(i)?.problem;
    if (problem) printSkipped(entries[i]!.name, `${problem.code}: ${problem.message}`);
  }
  return { entries, outcomes };
}
