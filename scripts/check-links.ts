/**
 * Link checker of the documentation (`pnpm links`, part of `pnpm check`): every relative link in
 * the tracked Markdown files must name a file of the repository, and every `#anchor` a heading of
 * its target (GitHub's slugs). Links that leave the repository (`../shared/...`) are refused: a
 * reader of a clone has nothing there. External http(s) links are not fetched (CI has no
 * internet); `--external` lists them. Prints one line per broken link and exits 1 if there is any.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** GitHub's heading anchor: lower case, punctuation other than `-` and `_` dropped, spaces to `-`. */
export function slugOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{Letter}\p{Number}\p{Mark}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown file's headings, with GitHub's `-1`, `-2` suffixes for repeats. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fence = !fence;
    if (fence) continue;
    const match = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (match === null) continue;
    // Inline code and link syntax keep only their text.
    const text = (match[1] ?? '').replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = slugOf(text);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Links `[text](target)` outside code fences and inline code, with their line numbers. */
export function linksOf(markdown: string): { line: number; target: string }[] {
  const links: { line: number; target: string }[] = [];
  let fence = false;
  markdown.split('\n').forEach((line, index) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fence = !fence;
      return;
    }
    if (fence) return;
    const prose = line.replace(/`[^`]*`/g, '');
    for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      if (match[1] !== undefined) links.push({ line: index + 1, target: match[1] });
    }
  });
  return links;
}

function markdownFiles(): string[] {
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return listed
    .split('\n')
    .filter((file) => file !== '' && existsSync(join(ROOT, file)))
    .sort();
}

/** Every broken link of the tracked Markdown files, one line each; `external` lists http(s) links too. */
export function checkLinks(options: { readonly external?: boolean } = {}): string[] {
  const { external = false } = options;
  const problems: string[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchors = (file: string): Set<string> => {
    let found = anchorCache.get(file);
    if (found === undefined) {
      found = anchorsOf(readFileSync(file, 'utf8'));
      anchorCache.set(file, found);
    }
    return found;
  };
  for (const file of markdownFiles()) {
    const path = join(ROOT, file);
    for (const { line, target } of linksOf(readFileSync(path, 'utf8'))) {
      const where = `${file}:${line}: ${target}`;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        if (external && /^https?:/.test(target)) console.log(`${where}: external, not checked`);
        continue;
      }
      const [rawPath = '', anchor] = target.split('#', 2);
      const linked = rawPath === '' ? path : resolve(dirname(path), decodeURI(rawPath));
      const inside = relative(ROOT, linked);
      if (inside.startsWith('..')) {
        problems.push(`${where}: leaves the repository`);
        continue;
      }
      if (!existsSync(linked)) {
        problems.push(`${where}: no such file`);
        continue;
      }
      if (anchor === undefined || anchor === '') continue;
      if (statSync(linked).isDirectory() || !linked.endsWith('.md')) {
        problems.push(`${where}: an anchor into something that is not a Markdown file`);
        continue;
      }
      if (!anchors(linked).has(anchor)) problems.push(`${where}: no heading with this anchor in ${inside}`);
    }
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problems = checkLinks({ external: process.argv.includes('--external') });
  for (const problem of problems) console.log(problem);
  if (problems.length > 0) {
    console.log(`check-links: ${problems.length} broken link(s)`);
    process.exitCode = 1;
  }
}
