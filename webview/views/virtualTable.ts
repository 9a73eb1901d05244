/**
 * A sortable, virtualized table (only the rows in view exist in the DOM) for the diff and merge views: columns
 * declare their text, sort key and whether they are numeric; rows are ids.
 */
import { sortIds } from '../lib/tree';
import { el } from './dom';

const ROW_HEIGHT = 24;
const OVERSCAN = 10;

export interface Column {
  key: string;
  title: string;
  numeric: boolean;
  width: string;
  /** Text of the cell (names reach the DOM as text only). */
  text(id: number): string;
  /** Sort key; null sorts last. */
  sortKey(id: number): string | number | null;
  /** Extra attributes of the cell (test ids, raw values). */
  attributes?(id: number): Record<string, string>;
}

export interface TableState {
  sort: { column: string; direction: 'asc' | 'desc' };
  selected: number | null;
}

export class VirtualTable {
  readonly element: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly header: HTMLElement;
  private order: number[] = [];

  constructor(
    private readonly testId: string,
    private readonly columns: readonly Column[],
    private ids: number[],
    private readonly state: () => TableState,
    private readonly update: (change: Partial<TableState>) => void,
    private readonly onSelect: (id: number) => void,
  ) {
    this.header = el('div', { class: 'vrow head', role: 'row' });
    this.spacer = el('div', { class: 'spacer' });
    this.viewport = el('div', { class: 'viewport', tabindex: '0', role: 'grid', 'aria-label': testId }, this.header, this.spacer);
    this.element = el('div', { class: 'virtual-table', 'data-testid': testId }, this.viewport);
    this.element.style.setProperty('--columns', columns.map((c) => c.width).join(' '));
    this.viewport.addEventListener('scroll', () => this.renderWindow());
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
  }

  setIds(ids: number[]): void {
    this.ids = ids;
    this.refresh();
  }

  /** Re-sorts and redraws (after data or sorting changed). */
  refresh(): void {
    const { sort } = this.state();
    const column = this.columns.find((c) => c.key === sort.column) ?? this.columns[0]!;
    this.order = sort.column === '' ? [...this.ids] : sortIds(this.ids, (id) => column.sortKey(id), sort.direction);
    this.renderHeader();
    this.spacer.style.height = `${this.order.length * ROW_HEIGHT}px`;
    this.renderWindow();
  }

  private renderHeader(): void {
    const { sort } = this.state();
    this.header.replaceChildren(
      ...this.columns.map((c) => {
        const cell = el('div', { class: `cell ${c.numeric ? 'num' : ''}`, role: 'columnheader', 'data-testid': `${this.testId}-header`, 'data-col': c.key }, c.title);
        if (sort.column === c.key) {
          cell.setAttribute('data-sort', sort.direction);
          cell.append(el('span', { class: 'sort-arrow' }, sort.direction === 'asc' ? ' ▲' : ' ▼'));
        }
        cell.addEventListener('click', () => {
          const direction = sort.column === c.key ? (sort.direction === 'asc' ? 'desc' : 'asc') : c.numeric ? 'desc' : 'asc';
          this.update({ sort: { column: c.key, direction } });
          this.refresh();
        });
        return cell;
      }),
    );
  }

  private renderWindow(): void {
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.order.length, Math.ceil((this.viewport.scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
    const selected = this.state().selected;
    const rows: HTMLElement[] = [];
    for (let i = first; i < last; i++) {
      const id = this.order[i]!;
      const row = el('div', { class: 'vrow', role: 'row', 'data-testid': `${this.testId}-row`, 'data-id': String(id) },
        ...this.columns.map((c) => el('div', { class: `cell ${c.numeric ? 'num' : ''}`, 'data-col': c.key, ...(c.attributes?.(id) ?? {}) }, c.text(id))));
      row.style.top = `${i * ROW_HEIGHT}px`;
      if (id === selected) row.setAttribute('aria-selected', 'true');
      row.addEventListener('click', () => this.select(id));
      rows.push(row);
    }
    this.spacer.replaceChildren(...rows);
  }

  select(id: number): void {
    this.update({ selected: id });
    this.renderWindow();
    const index = this.order.indexOf(id);
    if (index >= 0) {
      const top = index * ROW_HEIGHT;
      const visible = this.viewport.clientHeight - ROW_HEIGHT;
      if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
      else if (top + ROW_HEIGHT > this.viewport.scrollTop + visible) this.viewport.scrollTop = top + ROW_HEIGHT - visible;
    }
    this.onSelect(id);
  }

  private onKey(e: KeyboardEvent): void {
    const index = this.order.indexOf(this.state().selected ?? -1);
    const step = e.key === 'ArrowDown' ? 1 : e.key === 'ArrowUp' ? -1 : e.key === 'PageDown' ? 10 : e.key === 'PageUp' ? -10 : 0;
    if (step === 0 || this.order.length === 0) return;
    e.preventDefault();
    this.select(this.order[Math.max(0, Math.min(this.order.length - 1, index + step))]!);
  }
}
