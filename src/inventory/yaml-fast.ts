import { FAILSAFE_SCHEMA, Type, load } from 'js-yaml';

/*
 * A fast parse of an inventory to plain data, for the common case: a valid file. `yaml` builds a document
 * with every node's position (4 s and 600 MB for 10,000 credentials); js-yaml builds plain values (0.4 s).
 * Positions are needed only for errors, so loadInventory parses with `yaml` again when anything is wrong.
 * The scalars resolve exactly as `yaml`'s YAML 1.2 core schema resolves them (its regular expressions,
 * in its order), so both parsers give the same data.
 */

const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_OCT = /^0o[0-7]+$/;
const INT = /^[-+]?[0-9]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

/*
 * js-yaml tries every implicit type on every plain scalar; most of an inventory's scalars are words, which
 * these first-character tests turn away before any regular expression runs (a third of the parse).
 */
const mayBeNull = (s: string) => s.length <= 4 && (s === '' || s[0] === '~' || s[0] === 'n' || s[0] === 'N');
const mayBeBool = (s: string) => (s.length === 4 || s.length === 5) && 'tTfF'.includes(s[0] ?? '');
const mayBeNumber = (s: string) => s.length > 0 && '0123456789+-.'.includes(s[0] ?? '');

const core = FAILSAFE_SCHEMA.extend({
  implicit: [
    new Type('tag:yaml.org,2002:null', {
      kind: 'scalar',
      resolve: (s) => mayBeNull(s) && NULL.test(s),
      construct: () => null,
    }),
    new Type('tag:yaml.org,2002:bool', {
      kind: 'scalar',
      resolve: (s) => mayBeBool(s) && BOOL.test(s),
      construct: (s) => s[0] === 't' || s[0] === 'T',
    }),
    new Type('tag:yaml.org,2002:int', {
      kind: 'scalar',
      resolve: (s) => mayBeNumber(s) && (INT_OCT.test(s) || INT.test(s) || INT_HEX.test(s)),
      construct: (s) => (INT.test(s) ? parseInt(s, 10) : parseInt(s.substring(2), INT_OCT.test(s) ? 8 : 16)),
    }),
    new Type('tag:yaml.org,2002:float', {
      kind: 'scalar',
      resolve: (s) => mayBeNumber(s) && (FLOAT_NAN.test(s) || FLOAT_EXP.test(s) || FLOAT.test(s)),
      construct: (s) => {
        if (!FLOAT_NAN.test(s)) return parseFloat(s);
        if (s.slice(-3).toLowerCase() === 'nan') return NaN;
        return s[0] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
      },
    }),
  ],
});

/**
 * Anchors (&), aliases (*), tags (!) and directives (%) are left to `yaml`, which bounds how far aliases
 * expand, resolves tags as it always has, and reports a misplaced one that js-yaml may let pass. `yaml` reads
 * one at the start of a line (after indentation), or after an indicator (`- ? : , [ ] { }`) and blanks (or
 * after a quote, which js-yaml refuses). This finds every such place. Some text that is none matches too
 * (`key: *see docs*`, a comment `# note: &`), which only costs the fast path; `&` inside a description
 * (`Build & deploy`) or a comment (`npm ci && ...`) does not.
 */
const NODE_PROPERTY = /^[\uFEFF \t]*[&*!]|[-?:,[\]{}][ \t]*[&*!]|^%/m;

/** The text as plain data, or undefined when the fast parse does not apply or fails (bad YAML). */
export function parseYamlFast(text: string): unknown {
  if (NODE_PROPERTY.test(text)) return undefined;
  try {
    return load(text, { schema: core });
  } catch {
    return undefined;
  }
}
