/** A usage mistake: the CLI prints it with the usage text and exits 2. */
export class UsageError extends Error {}

export interface FlagSpec {
  /** Takes a value (`--workers 2` or `--workers=2`); otherwise a boolean switch. */
  value?: boolean;
  /** May be given more than once (values collected in order). */
  repeat?: boolean;
  /** Takes every following argument up to the next option (`--models a b c`). */
  variadic?: boolean;
}

export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string[]>;
}

export function parseArgs(argv: readonly string[], spec: Readonly<Record<string, FlagSpec>>): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const flag = spec[name];
    if (!flag) throw new UsageError(`unknown option --${name}`);
    if (flag.variadic) {
      if (eq >= 0) throw new UsageError(`--${name} takes its values after a space`);
      const values: string[] = [];
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) values.push(argv[++i]!);
      if (values.length === 0) throw new UsageError(`--${name} needs at least one value`);
      if (flags.has(name)) throw new UsageError(`--${name} given twice`);
      flags.set(name, values);
      continue;
    }
    let value = 'true';
    if (flag.value) {
      if (eq >= 0) value = arg.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i]!;
      else throw new UsageError(`--${name} needs a value`);
    } else if (eq >= 0) {
      throw new UsageError(`--${name} takes no value`);
    }
    const seen = flags.get(name) ?? [];
    if (seen.length > 0 && !flag.repeat) throw new UsageError(`--${name} given twice`);
    seen.push(value);
    flags.set(name, seen);
  }
  return { positionals, flags };
}

export function flagValue(args: ParsedArgs, name: string): string | undefined {
  return args.flags.get(name)?.[0];
}

export function integerFlag(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const text = flagValue(args, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${name} takes a whole number from ${min} to ${max}, not "${text}"`);
  }
  return Number(text);
}

/** Glob over tensor names: `*` any run of characters (dots included), `?` one character, `[...]` a class. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) source += '\\[';
      else {
        const body = glob.slice(i + 1, close).replace(/\\/g, '\\\\');
        source += `[${body.startsWith('!') ? '^' + body.slice(1) : body}]`;
        i = close;
      }
    } else source += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

/** A decimal number in [min, max], or undefined when the flag is absent. */
export function numberFlag(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const text = flagValue(args, name);
  if (text === undefined) return undefined;
  const value = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) throw new UsageError(`--${name} takes a number from ${min} to ${max}, not "${text}"`);
  return value;
}
