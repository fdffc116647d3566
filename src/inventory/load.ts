import { readFile, stat } from 'node:fs/promises';
import type { Document, ErrorCode } from 'yaml';
import { yamlDocuments } from '../on-first-use';
import { formatIssues, formatProblem, problemsIn, validate } from '../validation';
import { createHash } from 'node:crypto';
import {
  checkedCredentialsInventorySchema,
  credentialSchema,
  inventorySchema,
  type Credential,
  type Inventory,
} from './schema';
import { parseYamlFast } from './yaml-fast';

/** yaml quotes the offending text in these kinds of error, and it may be a pasted secret: say what is wrong instead. */
const QUOTING_ERRORS: Partial<Record<ErrorCode, string>> = {
  BAD_COLLECTION_TYPE: 'a tag that does not fit this value',
  BAD_DIRECTIVE: 'an unsupported % directive',
  BAD_DQ_ESCAPE: 'an invalid escape sequence in a double-quoted string',
  TAG_RESOLVE_FAILED: 'a tag (!...) that cannot be resolved',
  UNEXPECTED_TOKEN: 'unexpected text here',
};

/**
 * The largest inventory file read, about three times a 10,000-credential inventory (11 MB of YAML): a
 * larger one is refused before it is read.
 */
export const MAX_INVENTORY_BYTES = 32 * 1024 * 1024;
/**
 * The most YAML nodes parsed (scalars, collections, `-` and `:` indicators, counted by the lexer before a
 * document is built). Parsing takes memory per node, not per byte: 3 MB of `[1,1,...]` took 2.4 GB. A
 * 10,000-credential inventory has about 880,000.
 */
export const MAX_INVENTORY_NODES = 2_000_000;
/** Errors listed for one inventory; the rest are counted, so that a broken file does not flood a terminal or log. */
export const MAX_LISTED_ERRORS = 100;

/**
 * Bad input never throws: it comes back as the problems found, each naming its path, at most
 * MAX_LISTED_ERRORS of them and then a line saying how many more; `total` counts them all then.
 */
export type InventoryResult =
  { ok: true; inventory: Inventory } | { ok: false; errors: string[]; total?: number };

/** An inventory file that is not read at all, because it is too large. */
export class InventoryTooLarge extends Error {
  override readonly name = 'InventoryTooLarge';
}

/** The text of an inventory file; one larger than MAX_INVENTORY_BYTES is refused before it is read. */
export async function readInventoryText(path: string): Promise<string> {
  const { size } = await stat(path);
  if (size > MAX_INVENTORY_BYTES) throw new InventoryTooLarge(tooLarge(`${size} bytes`));
  return readFile(path, 'utf8');
}

function tooLarge(size: string): string {
  return (
    `the file is too large: ${size}, more than the ${MAX_INVENTORY_BYTES} bytes (32 MiB) an inventory may have; ` +
    'split it across workers'
  );
}

/** The first MAX_LISTED_ERRORS errors, then how many more of the `total` there are. */
function listed(errors: string[], total = errors.length): InventoryResult {
  if (total <= MAX_LISTED_ERRORS) return { ok: false, errors };
  const more = total - MAX_LISTED_ERRORS;
  return {
    ok: false,
    errors: [...errors.slice(0, MAX_LISTED_ERRORS), `and ${more} more ${more === 1 ? 'error' : 'errors'}`],
    total,
  };
}

/** Validates an inventory that is already data (a parsed file, or one a test builds). */
export function parseInventory(value: unknown): InventoryResult {
  const result = validate(inventorySchema, value);
  return result.success ? { ok: true, inventory: result.data } : listed(formatIssues(result.error));
}

/**
 * Each UTF-16 code unit, marked: 1 may start a YAML node or indicator token (`- : ? , [ { " '`), 2 may
 * precede any other that starts one (whitespace, flow and quote characters). A table, not a Set: this runs
 * over every character of a 10 MB file.
 */
const CHAR_CLASS = new Uint8Array(65_536);
for (const char of '-:?,[{"\'') CHAR_CLASS[char.charCodeAt(0)] = 1;
for (const char of ' \t\r\n[]{},:"\'')
  CHAR_CLASS[char.charCodeAt(0)] = (CHAR_CLASS[char.charCodeAt(0)] ?? 0) | 2;

/**
 * At least as many as the lexer's tokens, counted in one pass over the characters (20 ms for 10 MB against
 * 500 ms for the lexer): every token starts at an indicator or quote, or after whitespace, a flow character
 * or a quote. Words of a description or a comment count too, so this overestimates.
 */
function nodesAtMost(text: string): number {
  let count = 0;
  let previous = 10;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (((CHAR_CLASS[code] ?? 0) & 1) !== 0 || (code > 32 && ((CHAR_CLASS[previous] ?? 0) & 2) !== 0))
      count += 1;
    previous = code;
  }
  return count;
}

/** Whether the text has more YAML nodes than MAX_INVENTORY_NODES; the lexer counts them in constant memory. */
function tooManyNodes(text: string): boolean {
  if (nodesAtMost(text) <= MAX_INVENTORY_NODES) return false;
  let nodes = 0;
  const { CST, Lexer } = yamlDocuments();
  for (const token of new Lexer().lex(text)) {
    switch (CST.tokenType(token)) {
      case 'scalar':
      case 'single-quoted-scalar':
      case 'double-quoted-scalar':
      case 'flow-map-start':
      case 'flow-seq-start':
      case 'seq-item-ind':
      case 'map-value-ind':
      case 'explicit-key-ind':
      case 'comma':
        nodes += 1;
        if (nodes > MAX_INVENTORY_NODES) return true;
    }
  }
  return false;
}

/**
 * Parses and validates the YAML text of an inventory. Errors start with `line:column: ` where the
 * problem is found in the text, and come in the order of the file. A valid file is parsed once, to plain
 * data; only a file with errors is parsed again into a document that knows where each node is.
 */
export function loadInventory(text: string): InventoryResult {
  const refused = refusedBySize(text);
  if (refused !== undefined) return refused;
  const data = parseYamlFast(text);
  if (data !== undefined) {
    const result = validate(inventorySchema, data);
    if (result.success) return { ok: true, inventory: result.data };
  }
  return locatedProblems(text);
}

/** What a credential's entry holds, as a key: equal exactly when the parsed entries are equal. */
function entryKey(entry: unknown): string {
  // JSON writes NaN and Infinity as null: they are kept apart by their names.
  const json = JSON.stringify(entry, (_key, value: unknown) =>
    typeof value === 'number' && !Number.isFinite(value) ? { number: String(value) } : value,
  );
  return createHash('sha256').update(json).digest('base64');
}

function credentialEntries(data: unknown): unknown[] | undefined {
  if (typeof data !== 'object' || data === null || !Object.hasOwn(data, 'credentials')) return undefined;
  const { credentials } = data as { credentials: unknown };
  return Array.isArray(credentials) ? credentials : undefined;
}

/**
 * Loads one version of an inventory after another, as the worker does when the file changes: a credential
 * whose entry is as it was in the last good version is reused as validated then, and only the changed ones
 * are validated again; the rest of the file and the rules across credentials are checked every time. The
 * result is the one loadInventory gives, errors included (a file with any error is loaded as loadInventory
 * loads it).
 */
export class InventoryLoader {
  private validated = new Map<string, Credential>();
  /** How many credentials the last good load reused. */
  reused = 0;

  load(text: string): InventoryResult {
    const refused = refusedBySize(text);
    if (refused !== undefined) return refused;
    const data = parseYamlFast(text);
    const entries = credentialEntries(data);
    if (entries === undefined) return locatedProblems(text);
    const validated = new Map<string, Credential>();
    let reused = 0;
    const credentials: Credential[] = [];
    for (const entry of entries) {
      const key = entryKey(entry);
      let credential = this.validated.get(key);
      if (credential === undefined) {
        const result = validate(credentialSchema, entry);
        if (!result.success) return locatedProblems(text);
        credential = result.data;
      } else reused += 1;
      validated.set(key, credential);
      credentials.push(credential);
    }
    const result = validate(checkedCredentialsInventorySchema, { ...(data as object), credentials });
    if (!result.success) return locatedProblems(text);
    this.validated = validated;
    this.reused = reused;
    return { ok: true, inventory: result.data };
  }
}

/** A file too large, or with too many nodes, to be parsed at all. */
function refusedBySize(text: string): InventoryResult | undefined {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_INVENTORY_BYTES) return { ok: false, errors: [tooLarge(`${bytes} bytes`)] };
  if (tooManyNodes(text)) {
    return {
      ok: false,
      errors: [
        `the file has more than ${MAX_INVENTORY_NODES} YAML keys, values and list items, more than an ` +
          'inventory may have; split it across workers',
      ],
    };
  }
  return undefined;
}

/** The file parsed with every node's position, so that each problem names its line and column. */
function locatedProblems(text: string): InventoryResult {
  const { LineCounter, parseDocument } = yamlDocuments();
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
  if (yamlErrors.length > 0) return listed(yamlErrors);

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
  // Only the listed errors are formatted: a broken file can have millions.
  const errors = located
    .slice(0, MAX_LISTED_ERRORS)
    .map(({ problem, offset }) =>
      offset === undefined ? formatProblem(problem) : `${position(offset)}${formatProblem(problem)}`,
    );
  return listed(errors, located.length);
}

/**
 * Where a path leads in the text: the key of the last mapping entry on it, or the sequence item; for a
 * missing field, the nearest enclosing entry that exists.
 */
function offsetOf(document: Document, path: readonly PropertyKey[]): number | undefined {
  const { isAlias, isMap, isNode, isScalar, isSeq } = yamlDocuments();
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
  yamlDocuments().visit(document, {
    Alias: (_key, alias) => {
      if (alias.resolve(document) === undefined) offsets.push(alias.range?.[0] ?? 0);
    },
  });
  return offsets;
}
