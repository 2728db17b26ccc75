/**
 * dcmtk's DIMSE clients for the PACS tests: run a tool and keep its exit code and output, and a
 * storescu association profile that proposes every transfer syntax of the fixtures in a
 * presentation context of its own, so each file goes out in its own syntax (storescu's default
 * proposes uncompressed syntaxes only and would decompress what it can).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Syntaxes DCMTK 3.6.7 knows (not HTJ2K). */
const DCMTK_TRANSFER_SYNTAXES = [
  '1.2.840.10008.1.2.1',
  '1.2.840.10008.1.2',
  '1.2.840.10008.1.2.2',
  '1.2.840.10008.1.2.1.99',
  '1.2.840.10008.1.2.5',
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.57',
  '1.2.840.10008.1.2.4.70',
  '1.2.840.10008.1.2.4.80',
  '1.2.840.10008.1.2.4.81',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.4.91',
];

/** CR, DX for presentation and processing, Secondary Capture. */
const CHEST_SOP_CLASSES = [
  '1.2.840.10008.5.1.4.1.1.1',
  '1.2.840.10008.5.1.4.1.1.1.1',
  '1.2.840.10008.5.1.4.1.1.1.1.1',
  '1.2.840.10008.5.1.4.1.1.7',
];

/** Writes the storescu profile into `dir`; returns the arguments that select it (`-xf FILE Chest`). */
export async function storescuProfile(dir: string): Promise<string[]> {
  const lines = ['[[TransferSyntaxes]]'];
  DCMTK_TRANSFER_SYNTAXES.forEach((uid, i) => lines.push(`[TS${i}]`, `TransferSyntax1 = ${uid}`));
  lines.push('', '[[PresentationContexts]]', '[Chest]');
  let n = 1;
  for (const sopClass of CHEST_SOP_CLASSES) {
    DCMTK_TRANSFER_SYNTAXES.forEach((_, i) => lines.push(`PresentationContext${n++} = ${sopClass}\\TS${i}`));
  }
  lines.push('', '[[Profiles]]', '[Chest]', 'PresentationContexts = Chest', '');
  const path = join(dir, 'storescu.cfg');
  await writeFile(path, lines.join('\n'));
  return ['-xf', path, 'Chest'];
}

/** Runs a dcmtk tool; resolves with its exit code and output (never rejects). */
export function dcmtk(tool: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(tool, [...args], (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}
