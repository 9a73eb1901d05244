/** Short titles for several files shown together: the file name, with as many parent folders as tell them apart. */
import { sep } from 'node:path';

export function shortTitles(paths: readonly string[]): string[] {
  const parts = paths.map((p) => p.split(sep).filter(Boolean));
  const longest = Math.max(1, ...parts.map((p) => p.length));
  for (let depth = 1; depth < longest; depth++) {
    const titles = parts.map((p) => p.slice(-depth).join('/'));
    if (new Set(titles).size === titles.length) return titles;
  }
  return [...paths];
}
