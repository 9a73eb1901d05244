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
  /** For a group of numbered layers ("layers" holding 0, 1, …, 31): the run "0…31". */
  run?: string;
  /** One numbered layer of such a run: starts collapsed. */
  layer?: boolean;
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
  /** Tensors whose path ends here (more than one when names differ only in separators: "a/b" and "a.b"). */
  tensors: number[];
}

/** Builds the tree; a group with a single child is folded into it, so every group row groups at least two rows. */
export function buildTree(tensors: readonly TensorLike[]): TreeNode[] {
  const root: Building = { children: new Map(), tensors: [] };
  for (const t of tensors) {
    let node = root;
    for (const part of pathOf(t.name)) {
      let child = node.children.get(part);
      if (!child) {
        child = { children: new Map(), tensors: [] };
        node.children.set(part, child);
      }
      node = child;
    }
    node.tensors.push(t.id);
  }
  const names = new Map(tensors.map((t) => [t.id, t.name]));
  const leaf = (id: number, label: string, depth: number): TensorNode => ({ kind: 'tensor', key: names.get(id)!, label, depth, id });
  const convert = (node: Building, path: string[], label: string[], depth: number): TreeNode => {
    if (node.tensors.length === 1 && node.children.size === 0) return leaf(node.tensors[0]!, label.join('.'), depth);
    if (node.tensors.length === 0 && node.children.size === 1) {
      const [part, only] = [...node.children][0]!;
      return convert(only, [...path, part], [...label, part], depth);
    }
    const children = [...node.children].map(([part, child]) => convert(child, [...path, part], [part], depth + 1));
    // A name that is also a prefix of others ("a" and "a.b") is a leaf of its own group, listed first.
    children.unshift(...node.tensors.map((id) => leaf(id, names.get(id)!.split(/[./]/).pop() || names.get(id)!, depth + 1)));
    const run = numberedRun(children);
    // Layers in numeric order (2 before 10), whatever order the header listed them in.
    if (run) {
      children.sort((a, b) => leadingNumber(a) - leadingNumber(b));
      for (const child of children) if (child.kind === 'group') child.layer = true;
    }
    const tensorIds = children.flatMap((c) => (c.kind === 'tensor' ? [c.id] : c.tensorIds));
    const group: GroupNode = { kind: 'group', key: path.join('.'), label: label.join('.'), depth, children, tensorIds };
    return run ? { ...group, run } : group;
  };
  const top = convert(root, [], [], -1);
  return top.kind === 'group' ? top.children : [top];
}

/** Module path of a tensor name: dotted (PyTorch, safetensors) or slashed (ONNX, TensorFlow) segments. */
function pathOf(name: string): string[] {
  const parts = name.split(/[./]/).filter((part) => part !== '');
  return parts.length > 0 ? parts : [name];
}

function leadingNumber(node: TreeNode): number {
  return Number(/^\d+/.exec(node.label)?.[0] ?? NaN);
}

/** "0…31" when every child is a group whose path starts with a number (the layers of a model). */
function numberedRun(children: readonly TreeNode[]): string | undefined {
  if (children.length < 2 || !children.every((c) => c.kind === 'group' && /^\d+(\.|$)/.test(c.label))) return undefined;
  const numbers = children.map(leadingNumber);
  return `${Math.min(...numbers)}…${Math.max(...numbers)}`;
}

/** Numbered layers ("model.layers.7") start collapsed; everything else starts open. */
export function expandedByDefault(group: GroupNode): boolean {
  return !group.layer;
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
