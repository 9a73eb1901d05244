/**
 * The tensor tree: module paths grouped by dotted prefix, chains of single-child groups folded into one row, and
 * the visible rows of it given what is expanded, filtered and sorted.
 */

export interface TensorLike {
  id: number;
  name: string;
}

export interface GroupNode {
  kind: 'group';
  /** Full dotted prefix, e.g. "model.layers.3". */
  key: string;
  /** Shown text relative to the parent, e.g. "3" or "self_attn". */
  label: string;
  depth: number;
  children: TreeNode[];
  /** Ids of every tensor below. */
  tensorIds: number[];
}

export interface TensorNode {
  kind: 'tensor';
  key: string;
  label: string;
  depth: number;
  id: number;
}

export type TreeNode = GroupNode | TensorNode;

interface Building {
  children: Map<string, Building>;
  tensor?: number;
}

/** Builds the tree; a group with a single child is folded into it, so every group row groups at least two rows. */
export function buildTree(tensors: readonly TensorLike[]): TreeNode[] {
  const root: Building = { children: new Map() };
  for (const t of tensors) {
    let node = root;
    for (const part of t.name.split('.')) {
      let child = node.children.get(part);
      if (!child) {
        child = { children: new Map() };
        node.children.set(part, child);
      }
      node = child;
    }
    if (node.tensor === undefined && node.children.size === 0) node.tensor = t.id;
    else {
      // A name that is also a prefix of others ("a" and "a.b"): keep it as its own leaf.
      const alias = `\u0000${t.id}`;
      node.children.set(alias, { children: new Map(), tensor: t.id });
    }
  }
  const names = new Map(tensors.map((t) => [t.id, t.name]));
  const convert = (node: Building, path: string[], label: string[], depth: number): TreeNode => {
    if (node.tensor !== undefined && node.children.size === 0) {
      return { kind: 'tensor', key: names.get(node.tensor)!, label: label.join('.'), depth, id: node.tensor };
    }
    if (node.tensor === undefined && node.children.size === 1) {
      const [part, only] = [...node.children][0]!;
      return convert(only, [...path, part], [...label, part], depth);
    }
    const children = [...node.children].map(([part, child]) =>
      part.startsWith('\u0000') ? convert(child, path, [], depth + 1) : convert(child, [...path, part], [part], depth + 1),
    );
    const tensorIds = children.flatMap((c) => (c.kind === 'tensor' ? [c.id] : c.tensorIds));
    return { kind: 'group', key: path.join('.'), label: label.join('.'), depth, children, tensorIds };
  };
  const top = convert(root, [], [], -1);
  return top.kind === 'group' ? top.children : [top];
}

/** Numbered layers ("model.layers.7") start collapsed; everything else starts open. */
export function expandedByDefault(group: GroupNode): boolean {
  return !/(^|\.)\d+$/.test(group.key);
}

export function visibleRows(nodes: readonly TreeNode[], isExpanded: (g: GroupNode) => boolean, out: TreeNode[] = []): TreeNode[] {
  for (const node of nodes) {
    out.push(node);
    if (node.kind === 'group' && isExpanded(node)) visibleRows(node.children, isExpanded, out);
  }
  return out;
}

/** Case-insensitive substring match; `*` matches any run of characters. */
export function nameFilter(text: string): (name: string) => boolean {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === '') return () => true;
  const source = trimmed.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  const regex = new RegExp(source);
  return (name) => regex.test(name.toLowerCase());
}

/** Sorts ids by a key; nulls (not yet computed) always last, ties by name order. */
export function sortIds<T extends string | number>(ids: readonly number[], key: (id: number) => T | null, direction: 'asc' | 'desc'): number[] {
  const sign = direction === 'asc' ? 1 : -1;
  return [...ids].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka === null && kb === null) return a - b;
    if (ka === null) return 1;
    if (kb === null) return -1;
    if (ka < kb) return -sign;
    if (ka > kb) return sign;
    return a - b;
  });
}
