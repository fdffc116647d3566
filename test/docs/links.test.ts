import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/*
 * Every relative link in README.md and docs/ leads somewhere: the file exists, and a `#fragment` names a
 * heading of it, as GitHub makes anchors of headings. Links to other sites are not fetched.
 */

const ROOT = join(__dirname, '../..');

function markdownFiles(): string[] {
  const files = [join(ROOT, 'README.md'), join(ROOT, 'CHANGELOG.md')];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.md')) files.push(path);
    }
  };
  walk(join(ROOT, 'docs'));
  return files;
}

/** The text outside fenced code blocks and inline code, where a link is a link. */
function prose(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/`[^`\n]*`/g, (code) => ' '.repeat(code.length));
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces made hyphens; repeats numbered. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const [, heading] of withoutFences.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = (heading ?? '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[`*]/g, '')
      .toLowerCase();
    const base = text
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .trim()
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** The targets of `[text](target)` and `![alt](target)` links, and of `[label]: target` definitions. */
export function linksOf(markdown: string): string[] {
  const text = prose(markdown);
  const inline = [...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map(
    (m) => m[1] ?? '',
  );
  const definitions = [...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1] ?? '');
  return [...inline, ...definitions];
}

/** Each relative link of the given files that leads nowhere, as `file: target (why)`. */
export function brokenLinks(files: Record<string, string>, exists: (path: string) => boolean): string[] {
  const broken: string[] = [];
  for (const [file, markdown] of Object.entries(files)) {
    for (const target of linksOf(markdown)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: and the like
      const [path = '', fragment] = target.split('#', 2);
      const resolved = path === '' ? file : resolve(dirname(file), decodeURI(path));
      if (path !== '' && !exists(resolved)) {
        broken.push(`${file}: ${target} (no such file)`);
        continue;
      }
      if (fragment === undefined) continue;
      const content =
        files[resolved] ?? (resolved.endsWith('.md') ? readFileSync(resolved, 'utf8') : undefined);
      if (content === undefined) continue;
      if (!anchorsOf(content).has(decodeURIComponent(fragment))) {
        broken.push(`${file}: ${target} (no heading makes the anchor #${fragment})`);
      }
    }
  }
  return broken;
}

describe('links in the documentation', () => {
  it('lead to files and headings that exist', () => {
    const files = Object.fromEntries(markdownFiles().map((file) => [file, readFileSync(file, 'utf8')]));
    const broken = brokenLinks(files, existsSync).map(
      (line) => relative(ROOT, line.split(': ')[0] ?? '') + line.slice(line.indexOf(': ')),
    );
    expect(broken).toEqual([]);
  });

  it('finds a missing file, a missing heading, and ignores code and other sites', () => {
    const files = {
      '/r/README.md': [
        '# Title',
        '## Running the worker: `npm start`',
        '[ok](docs/a.md#the-a-page) [ok](#running-the-worker-npm-start) [web](https://example.com/x)',
        '[gone](docs/missing.md) [bad anchor](docs/a.md#nowhere) ![picture](docs/shot.png)',
        '`[not a link](nowhere.md)`',
        '```',
        '[not a link either](nowhere.md)',
        '```',
      ].join('\n'),
      '/r/docs/a.md': '# The A page\n\n[back](../README.md#title) [self](#missing-here)\n',
    };
    const exists = (path: string) => path in files;
    expect(brokenLinks(files, exists)).toEqual([
      '/r/README.md: docs/missing.md (no such file)',
      '/r/README.md: docs/a.md#nowhere (no heading makes the anchor #nowhere)',
      '/r/README.md: docs/shot.png (no such file)',
      '/r/docs/a.md: #missing-here (no heading makes the anchor #missing-here)',
    ]);
  });

  it('makes anchors as GitHub does', () => {
    expect([
      ...anchorsOf('# A: `b` (c)\n## Source: `oauth2-refresh-token`\n## Dup\n## Dup\n## [Link](x.md) text'),
    ]).toEqual(['a-b-c', 'source-oauth2-refresh-token', 'dup', 'dup-1', 'link-text']);
  });
});
