/**
 * The tensor table: a tree of module groups, virtualized (only rows in view exist in the DOM). Sorted by name it is
 * a tree; sorted by any other column, or filtered, it is a flat list of tensors, since ordering across groups is
 * the point of sorting and matches can sit anywhere in the tree.
 */
import type { StatsRecord, TensorRow } from '../../extension/protocol/messages';
import { formatBytes, formatCount, formatShape, formatValue } from '../lib/format';
import { buildTree, expandedByDefault, nameFilter, sortIds, visibleRows, type GroupNode, type TreeNode } from '../lib/tree';
import { ANOMALY_TEXT, anomaliesOf, type SortColumn, type ViewState } from '../state';
import { el } from './dom';

const ROW_HEIGHT = 24;
const OVERSCAN = 12;
export const COLUMNS: { key: SortColumn; title: string; numeric: boolean }[] = [
  { key: 'name', title: 'Name', numeric: false },
  { key: 'dtype', title: 'DType', numeric: false },
  { key: 'shape', title: 'Shape', numeric: false },
  { key: 'params', title: 'Params', numeric: true },
  { key: 'size', title: 'Size', numeric: true },
  { key: 'mean', title: 'Mean', numeric: true },
  { key: 'std', title: 'Std', numeric: true },
  { key: 'absmax', title: 'Absmax', numeric: true },
  { key: 'kurtosis', title: 'Kurtosis', numeric: true },
];
const STAT_COLUMNS = new Set<SortColumn>(['mean', 'std', 'absmax', 'kurtosis']);

type Row = TreeNode | { kind: 'flat'; key: string; id: number };

export interface TableHost {
  view(): ViewState;
  update(change: Partial<ViewState>): void;
  select(id: number | null): void;
}

export class TensorTable {
  readonly element: HTMLElement;
  private readonly header: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly tree: TreeNode[];
  private rows: Row[] = [];

  constructor(
    private readonly tensors: TensorRow[],
    private readonly records: Map<number, StatsRecord>,
    private readonly host: TableHost,
  ) {
    this.tree = buildTree(tensors);
    this.header = el('div', { class: 'row head', role: 'row' });
    this.spacer = el('div', { class: 'spacer' });
    // The header scrolls sideways with the rows and sticks to the top.
    this.viewport = el('div', { class: 'viewport', tabindex: '0', role: 'treegrid', 'aria-label': 'tensors' }, this.header, this.spacer);
    this.element = el('div', { class: 'tensor-table', 'data-testid': 'tensor-table' }, this.viewport);
    this.viewport.addEventListener('scroll', () => {
      this.host.update({ scrollTop: this.viewport.scrollTop });
      this.renderWindow();
    });
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
  }

  /** Recomputes the visible rows (after data, filter, sort or expansion changed) and redraws. */
  refresh(): void {
    const view = this.host.view();
    this.renderHeader(view);
    const filter = nameFilter(view.filter);
    if (view.filter.trim() === '' && view.sort.column === 'name' && view.sort.direction === 'asc') {
      this.rows = visibleRows(this.tree, (g) => this.isExpanded(g));
    } else {
      const ids = this.tensors.filter((t) => filter(t.name)).map((t) => t.id);
      this.rows = sortIds(ids, (id) => this.sortKey(id, view.sort.column), view.sort.direction).map((id) => ({ kind: 'flat', key: this.tensors[id]!.name, id }));
    }
    this.spacer.style.height = `${this.rows.length * ROW_HEIGHT}px`;
    this.renderWindow();
  }

  restoreScroll(top: number): void {
    this.viewport.scrollTop = top;
    this.renderWindow();
  }

  focus(): void {
    this.viewport.focus();
  }

  private isExpanded(group: GroupNode): boolean {
    return this.host.view().toggled[group.key] ?? expandedByDefault(group);
  }

  private sortKey(id: number, column: SortColumn): string | number | null {
    const t = this.tensors[id]!;
    const s = this.records.get(id)?.stats;
    switch (column) {
      case 'name': return t.name;
      case 'dtype': return t.dtype;
      case 'shape': return t.params;
      case 'params': return t.params;
      case 'size': return t.bytes;
      default: return s ? s[column] : null;
    }
  }

  private renderHeader(view: ViewState): void {
    this.header.replaceChildren(
      ...COLUMNS.map((c) => {
        const cell = el('div', { class: `cell ${c.numeric ? 'num' : ''} col-${c.key}`, role: 'columnheader', 'data-testid': 'col-header', 'data-col': c.key, tabindex: '-1' }, c.title);
        if (view.sort.column === c.key) {
          cell.setAttribute('data-sort', view.sort.direction);
          cell.setAttribute('aria-sort', view.sort.direction === 'asc' ? 'ascending' : 'descending');
          cell.append(el('span', { class: 'sort-arrow' }, view.sort.direction === 'asc' ? ' ▲' : ' ▼'));
        }
        cell.addEventListener('click', () => {
          const same = view.sort.column === c.key;
          const direction = same ? (view.sort.direction === 'asc' ? 'desc' : 'asc') : c.numeric ? 'desc' : 'asc';
          this.host.update({ sort: { column: c.key, direction } });
          this.refresh();
        });
        return cell;
      }),
    );
  }

  private renderWindow(): void {
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((this.viewport.scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
    const cursor = this.host.view().cursor;
    const elements: HTMLElement[] = [];
    for (let i = first; i < last; i++) {
      const row = this.rows[i]!;
      const element =
        row.kind === 'group' ? this.groupRow(row) : row.kind === 'flat' ? this.tensorRow(row.id, row.key, 0) : this.tensorRow(row.id, row.label, row.depth);
      element.style.top = `${i * ROW_HEIGHT}px`;
      if (row.key === cursor) element.setAttribute('aria-selected', 'true');
      element.addEventListener('click', () => this.activate(row, true));
      elements.push(element);
    }
    this.spacer.replaceChildren(...elements);
  }

  private groupRow(group: GroupNode): HTMLElement {
    const expanded = this.isExpanded(group);
    let params = 0;
    let bytes = 0;
    let flagged = 0;
    for (const id of group.tensorIds) {
      const t = this.tensors[id]!;
      params += t.params;
      bytes += t.bytes;
      if (anomaliesOf(t, this.records.get(id)).length > 0) flagged++;
    }
    const name = el('div', { class: 'cell col-name' }, el('span', { class: `twisty ${expanded ? 'open' : ''}` }, '›'), el('span', { class: 'group-label' }, group.label), ...(group.run ? [el('span', { class: 'run' }, group.run)] : []), el('span', { class: 'count' }, `${group.tensorIds.length}`));
    name.style.paddingLeft = `${6 + group.depth * 14}px`;
    if (flagged > 0) name.append(el('span', { class: 'flag', title: `${flagged} tensor(s) stand out` }, `⚠ ${flagged}`));
    return el(
      'div',
      { class: 'row group', role: 'row', 'data-testid': 'group-row', 'data-group': group.key, 'aria-expanded': String(expanded), 'aria-level': String(group.depth + 1) },
      name, el('div', { class: 'cell col-dtype' }), el('div', { class: 'cell col-shape' }),
      el('div', { class: 'cell num col-params' }, formatCount(params)), el('div', { class: 'cell num col-size' }, formatBytes(bytes)),
      ...[...STAT_COLUMNS].map((c) => el('div', { class: `cell num col-${c}` })),
    );
  }

  private tensorRow(id: number, label: string, depth: number): HTMLElement {
    const t = this.tensors[id]!;
    const record = this.records.get(id);
    const stats = record?.stats ?? null;
    const name = el('div', { class: 'cell col-name', title: t.name }, el('span', { class: 'tensor-label' }, label));
    name.style.paddingLeft = `${20 + depth * 14}px`;
    for (const kind of anomaliesOf(t, record)) {
      name.append(el('span', { class: `badge ${kind}`, 'data-testid': 'badge', 'data-kind': kind }, ANOMALY_TEXT[kind]));
    }
    const statCells = [...STAT_COLUMNS].map((c) => {
      const cell = el('div', { class: `cell num col-${c}`, 'data-col': c });
      if (stats) {
        const value = stats[c as 'mean'];
        cell.setAttribute('data-value', String(value));
        cell.textContent = formatValue(value);
      } else if (record?.error || t.problem) cell.textContent = '—';
      return cell;
    });
    return el(
      'div',
      { class: 'row tensor', role: 'row', 'data-testid': 'tensor-row', 'data-name': t.name, 'aria-level': String(depth + 1) },
      name,
      el('div', { class: 'cell col-dtype', 'data-col': 'dtype' }, t.dtype),
      el('div', { class: 'cell col-shape', 'data-col': 'shape' }, formatShape(t.shape)),
      el('div', { class: 'cell num col-params', 'data-col': 'params' }, formatCount(t.params)),
      el('div', { class: 'cell num col-size', 'data-col': 'size' }, formatBytes(t.bytes)),
      ...statCells,
    );
  }

  private activate(row: Row, toggle: boolean): void {
    this.host.update({ cursor: row.key });
    if (row.kind === 'group') {
      if (toggle) this.setExpanded(row, !this.isExpanded(row));
      this.host.select(null);
    } else {
      this.host.select(row.id);
    }
    this.refresh();
  }

  private setExpanded(group: GroupNode, expanded: boolean): void {
    const toggled = { ...this.host.view().toggled };
    if (expanded === expandedByDefault(group)) delete toggled[group.key];
    else toggled[group.key] = expanded;
    this.host.update({ toggled });
  }

  private onKey(e: KeyboardEvent): void {
    const index = this.rows.findIndex((r) => r.key === this.host.view().cursor);
    const row = this.rows[index];
    const move = (to: number): void => {
      const target = this.rows[Math.max(0, Math.min(this.rows.length - 1, to))];
      if (!target) return;
      this.activate(target, false);
      this.scrollIntoView(this.rows.indexOf(target));
    };
    switch (e.key) {
      case 'ArrowDown': move(index + 1); break;
      case 'ArrowUp': move(index - 1); break;
      case 'Home': move(0); break;
      case 'End': move(this.rows.length - 1); break;
      case 'PageDown': move(index + 10); break;
      case 'PageUp': move(index - 10); break;
      case 'ArrowRight':
        if (row?.kind === 'group' && !this.isExpanded(row)) {
          this.setExpanded(row, true);
          this.refresh();
        } else move(index + 1);
        break;
      case 'ArrowLeft':
        if (row?.kind === 'group' && this.isExpanded(row)) {
          this.setExpanded(row, false);
          this.refresh();
        } else if (row && row.kind !== 'flat') {
          const parent = this.rows.slice(0, index).reverse().find((r) => r.kind === 'group' && r.depth < row.depth);
          if (parent) move(this.rows.indexOf(parent));
        }
        break;
      case 'Enter':
      case ' ':
        if (row) this.activate(row, true);
        break;
      default:
        return;
    }
    e.preventDefault();
  }

  /** Opens the groups holding the cursor's row and scrolls it into view (after a selection from elsewhere). */
  scrollToCursor(): void {
    const cursor = this.host.view().cursor;
    if (cursor === null) return;
    const open = (nodes: readonly TreeNode[]): boolean =>
      nodes.some((node) => {
        if (node.kind !== 'group') return node.key === cursor;
        if (!open(node.children)) return false;
        if (!this.isExpanded(node)) this.setExpanded(node, true);
        return true;
      });
    open(this.tree);
    this.refresh();
    const index = this.rows.findIndex((r) => r.key === cursor);
    if (index >= 0) this.scrollIntoView(index);
  }

  private scrollIntoView(index: number): void {
    const top = index * ROW_HEIGHT;
    const visible = this.viewport.clientHeight - ROW_HEIGHT; // below the sticky header
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (top + ROW_HEIGHT > this.viewport.scrollTop + visible) this.viewport.scrollTop = top + ROW_HEIGHT - visible;
  }
}
