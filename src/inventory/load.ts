import {
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type ErrorCode,
} from 'yaml';
import { formatIssues, formatProblem, problemsIn, validate } from '../validation';
import { inventorySchema, type Inventory } from './schema';

/** yaml quotes the offending text in these kinds of error, and it may be a pasted secret: say what is wrong instead. */
const QUOTING_ERRORS: Partial<Record<ErrorCode, string>> = {
  BAD_COLLECTION_TYPE: 'a tag that does not fit this value',
  BAD_DIRECTIVE: 'an unsupported % directive',
  BAD_DQ_ESCAPE: 'an invalid escape sequence in a double-quoted string',
  TAG_RESOLVE_FAILED: 'a tag (!...) that cannot be resolved',
  UNEXPECTED_TOKEN: 'unexpected text here',
};

/** Bad input never throws: it comes back as every problem found, each naming its path. */
export type InventoryResult = { ok: true; inventory: Inventory } | { ok: false; errors: string[] };

/** Validates an inventory that is already data (a parsed file, or one a test builds). */
export function parseInventory(value: unknown): InventoryResult {
  const result = validate(inventorySchema, value);
  return result.success
    ? { ok: true, inventory: result.data }
    : { ok: false, errors: formatIssues(result.error) };
}

/**
 * Parses and validates the YAML text of an inventory. Errors start with `line:column: ` where the
 * problem is found in the text, and come in the order of the file.
 */
export function loadInventory(text: string): InventoryResult {
  const lineCounter = new LineCounter();
  // prettyErrors would quote the offending line, which may hold a pasted secret.
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${line}:${col}: `;
  };
  const yamlErrors = [
    ...document.errors.map(
      (error) => `${position(error.pos[0])}invalid YAML: ${QUOTING_ERRORS[error.code] ?? error.message}`,
    ),
    ...unresolvedAliases(document).map(
      (offset) => `${position(offset)}invalid YAML: an alias to an anchor that is not set before it`,
    ),
  ];
  if (yamlErrors.length > 0) return { ok: false, errors: yamlErrors };

  let value: unknown;
  try {
    value = document.toJS();
  } catch (error) {
    // So many aliases that expanding them would exhaust memory.
    return { ok: false, errors: [`invalid YAML: ${error instanceof Error ? error.message : String(error)}`] };
  }

  const result = validate(inventorySchema, value);
  if (result.success) return { ok: true, inventory: result.data };
  const located = problemsIn(result.error).map((problem) => ({
    problem,
    offset: offsetOf(document, problem.path),
  }));
  located.sort((a, b) => (a.offset ?? Infinity) - (b.offset ?? Infinity));
  return {
    ok: false,
    errors: located.map(({ problem, offset }) =>
      offset === undefined ? formatProblem(problem) : `${position(offset)}${formatProblem(problem)}`,
    ),
  };
}

/**
 * Where a path leads in the text: the key of the last mapping entry on it, or the sequence item; for a
 * missing field, the nearest enclosing entry that exists.
 */
function offsetOf(document: Document, path: readonly PropertyKey[]): number | undefined {
  let node: unknown = document.contents;
  let offset = isNode(node) ? node.range?.[0] : undefined;
  for (const key of path) {
    if (isAlias(node)) node = node.resolve(document);
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(key));
      if (pair === undefined) break;
      if (isNode(pair.key)) offset = pair.key.range?.[0];
      node = pair.value;
    } else if (isSeq(node)) {
      const item: unknown = node.items[Number(key)];
      if (!isNode(item)) break;
      offset = item.range?.[0];
      node = item;
    } else break;
  }
  return offset;
}

/** Aliases resolve only to an anchor set before them; yaml would report the others without a position. */
function unresolvedAliases(document: Document): number[] {
  const offsets: number[] = [];
  visit(document, {
    Alias: (_key, alias) => {
      if (alias.resolve(document) === undefined) offsets.push(alias.range?.[0] ?? 0);
    },
  });
  return offsets;
}
