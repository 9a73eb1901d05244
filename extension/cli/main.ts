#!/usr/bin/env node
/**
 * `weightscope`: the engine without an editor, for scripts, CI and machines without VS Code.
 * Exit status: 0 done (per-tensor errors included), 2 bad usage, 3 invalid or unreadable input.
 */
import { FormatError, oneLine } from '../formats/formatError';
import { UsageError } from './args';
import { blocksCommand } from './blocksCommand';
import { printLine, type Command } from './command';
import { diffCommand } from './diffCommand';
import { mergeCommand } from './mergeCommand';
import { saliencyCommand } from './saliencyCommand';
import { statsCommand } from './statsCommand';
import { tileCommand } from './tileCommand';
import { outliersCommand } from './outliersCommand';
import { quantCommand } from './quantCommand';

/** Every subcommand, by name. */
const COMMANDS: Readonly<Record<string, Command>> = {
  stats: statsCommand,
  diff: diffCommand,
  merge: mergeCommand,
  tile: tileCommand,
  outliers: outliersCommand,
  quant: quantCommand,
  blocks: blocksCommand,
  saliency: saliencyCommand,
};

const USAGE = `usage: weightscope <command> [options]

commands:
${Object.values(COMMANDS).map((c) => c.usage).join('\n')}

Run 'weightscope <command> --help' for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command === undefined ? 2 : 0;
  }
  const chosen = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!chosen) throw new UsageError(`unknown command "${command}"`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`usage:\n${chosen.usage}\n${chosen.details ? `\n${chosen.details}\n` : ''}`);
    return 0;
  }
  return chosen.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`weightscope: ${oneLine(error.message)}\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (error instanceof FormatError) {
      printLine(error.describe());
      process.exitCode = 3;
    } else {
      printLine(`internal error: ${(error as Error).message ?? String(error)}`);
      process.exitCode = 1;
    }
  },
);
