import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CST, Lexer, parseDocument } from 'yaml';
import { parseYamlFast } from '../../src/inventory/yaml-fast';

const EXAMPLE_TEXT = readFileSync(join(__dirname, '../../examples/rotator.yaml'), 'utf8');

/** Whether `yaml`'s own lexer finds an anchor, alias, tag or directive: what the fast parse must leave to `yaml`. */
function hasNodeProperty(text: string): boolean {
  let scalarFollows = false;
  for (const token of new Lexer().lex(text)) {
    // A scalar's text comes as the token after the scalar marker; a block scalar's may start with `&`.
    if (scalarFollows) scalarFollows = false;
    else if (token === CST.SCALAR) scalarFollows = true;
    else if (['anchor', 'alias', 'tag', 'directive-line'].includes(CST.tokenType(token) ?? '')) return true;
  }
  return false;
}

describe('the fast YAML parse', () => {
  it("parses the example inventory, whose comments hold `&&`, to `yaml`'s data", () => {
    expect(EXAMPLE_TEXT).toContain(' && ');
    expect(parseYamlFast(EXAMPLE_TEXT)).toEqual(parseDocument(EXAMPLE_TEXT).toJS());
  });

  it.each([
    ['a description', 'description: Build & deploy (R&D) *nightly*!'],
    ['a quoted description', 'description: "a & b *c* !d"'],
    ['a comment', 'description: Deploys # ask in #ops & #sec, or see *docs*'],
  ])('takes & * ! inside %s', (_where, line) => {
    const text = EXAMPLE_TEXT.replace(/^ {4}description: .*$/m, `    ${line}`);
    expect(parseYamlFast(text)).toEqual(parseDocument(text).toJS());
  });

  it.each([
    ['an anchor on a value', 'key: &a 1\nother: *a\n'],
    ['an anchor on a list item', 'list:\n  - &a x\n  - *a\n'],
    ['an anchor on a key', '&a key: 1\n'],
    ['an anchor on its own line', 'key:\n  &a\n  inner: 1\n'],
    ['a tab before the anchor', 'key:\t&a 1\n'],
    ['a tag', 'key: !!str 1\n'],
    ['a tag on the document', '--- !!map\nkey: 1\n'],
    ['an alias in a flow list', 'anchor: &a 1\nlist: [x,*a]\n'],
    ['an alias in a flow mapping', 'anchor: &a 1\nmap: {"k":*a}\n'],
    ['an explicit key', 'anchor: &a 1\n? *a\n: value\n'],
    ['a directive', '%YAML 1.2\n---\nkey: 1\n'],
    ['an anchor after a byte-order mark', '\uFEFF&a key: 1\n'],
    ['an anchor after a flow mapping', 'key: { a: 1 }&a\n'],
    ['an anchor after a flow sequence', 'key: [ 1 ]&a\n'],
    ['an anchor after a quoted key', '"key"&a : 1\n'],
    ['an anchor after a quoted value', 'key: "v"&a\n'],
  ])('leaves %s to yaml', (_what, text) => {
    expect(hasNodeProperty(text)).toBe(true);
    expect(parseYamlFast(text)).toBeUndefined();
  });

  it('leaves every anchor, alias, tag and directive to yaml, wherever it is spliced into the example', () => {
    const spliced = fc.string({
      unit: fc.constantFrom(
        ...['&a ', '*a', '!', '!!str ', '%', ' ', '\t', '\n', '-', '? ', ': ', ',', '[', ']', '{', '}', '#'],
        ...['"', "'", 'x'],
      ),
      maxLength: 8,
    });
    fc.assert(
      fc.property(fc.nat(EXAMPLE_TEXT.length), spliced, (at, inserted) => {
        const text = EXAMPLE_TEXT.slice(0, at) + inserted + EXAMPLE_TEXT.slice(at);
        if (hasNodeProperty(text)) expect(parseYamlFast(text)).toBeUndefined();
      }),
      { numRuns: Number(process.env.RUNS ?? 2000) },
    );
  });
});
