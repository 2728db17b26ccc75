/**
 * What a terminal shows after some output: the lines as displayed, with carriage returns, erase
 * in line (ECMA-48 EL: `ESC [ K`, `ESC [ 2 K`) and newlines applied; other escape sequences are
 * dropped. Tests use it to check that no log line is drawn onto a progress line.
 */
export function renderTerminal(text: string): string[] {
  const lines: string[] = [];
  let line: string[] = [];
  let column = 0;
  for (let i = 0; i < text.length;) {
    const char = text[i] ?? '';
    if (char === ESC) {
      const sequence = controlSequenceAt(text, i);
      if (sequence.final === 'K') {
        const mode = sequence.parameters === '' ? 0 : Number(sequence.parameters);
        if (mode === 0) line = line.slice(0, column);
        else if (mode === 1) line = line.map((c, at) => (at <= column ? ' ' : c));
        else line = [];
      }
      i = sequence.end;
      continue;
    }
    i += 1;
    if (char === '\r') {
      column = 0;
    } else if (char === '\n') {
      lines.push(line.join('').trimEnd());
      line = [];
      column = 0;
    } else {
      while (line.length < column) line.push(' ');
      line[column] = char;
      column += 1;
    }
  }
  if (line.length > 0) lines.push(line.join('').trimEnd());
  return lines;
}

const ESC = '\u001b';

/** The control sequence `ESC [ parameters final` at `start` (ECMA-48 CSI); a lone ESC is skipped. */
function controlSequenceAt(
  text: string,
  start: number,
): { readonly parameters: string; readonly final: string; readonly end: number } {
  if (text[start + 1] !== '[') return { parameters: '', final: '', end: start + 1 };
  let at = start + 2;
  while (at < text.length && /[0-9;]/.test(text[at] ?? '')) at += 1;
  const final = text[at] ?? '';
  return { parameters: text.slice(start + 2, at), final, end: Math.min(at + 1, text.length) };
}
