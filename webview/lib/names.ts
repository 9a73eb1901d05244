/** Shorter names for long tables: the dotted prefix every name shares is left out (the full name stays the title). */

/** The longest run of whole dotted components that starts every name (with its trailing dot), or ''. */
export function sharedPrefix(names: readonly string[]): string {
  if (names.length < 2) return '';
  const parts = names[0]!.split('.');
  let length = parts.length - 1;
  for (const name of names) {
    const other = name.split('.');
    let i = 0;
    while (i < length && i < other.length - 1 && other[i] === parts[i]) i++;
    length = i;
  }
  return length > 0 ? `${parts.slice(0, length).join('.')}.` : '';
}

/** The name without the shared prefix, marked with a leading ellipsis when something was left out. */
export function shortName(name: string, prefix: string): string {
  return prefix && name.startsWith(prefix) ? `…${name.slice(prefix.length)}` : name;
}
