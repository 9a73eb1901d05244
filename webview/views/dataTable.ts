/** A titled table of numbers: a heading (outside the table, so it never squeezes into the table's width), column
 *  headers and rows. The test id sits on the table. */
import { el } from './dom';

export function dataTable(testId: string, title: string, headers: readonly string[], rows: readonly HTMLElement[], attributes: Record<string, string> = {}): HTMLElement {
  const { class: extra, ...rest } = attributes;
  return el('section', { class: 'data-section' },
    el('h3', { class: 'table-title' }, title),
    el('table', { class: `data ${extra ?? ''}`.trim(), 'data-testid': testId, ...rest },
      el('tr', {}, ...headers.map((h) => el('th', {}, h))),
      ...rows));
}
