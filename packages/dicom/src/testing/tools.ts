/**
 * Runs the Debian DICOM tools (dcmtk, gdcm) that tests use as independent encoders and reference
 * decoders. A missing tool fails the test loudly rather than skipping it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { nativeSamples, readDicomFile, type ParsedPart10 } from './read-dicom.js';
import { writeNativeImage, type NativeImage } from './write-dicom.js';

/** Runs a tool and returns its stdout; throws with its stderr when it cannot run or fails. */
export function runTool(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (result.error !== undefined) {
    throw new Error(`${command} could not run (install dcmtk / libgdcm-tools): ${result.error.message}`);
  }
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${String(result.status)}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** A scratch directory for tool runs. */
export interface ScratchDir {
  readonly dir: string;
  /** Path of a file in the directory. */
  path(name: string): string;
  /** Removes the directory; call it in afterAll. */
  cleanup(): void;
}

/** Creates a scratch directory under the OS temp dir. */
export function scratchDir(prefix = 'cxr-codec-'): ScratchDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    path: (name) => join(dir, name),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Writes `image` to `<name>.raw.dcm`, runs `command ...args in out` with `out` =
 * `<name><outputSuffix>` (default `.enc.dcm`) and returns the output parsed.
 */
export function encodeWithTool(
  scratch: Pick<ScratchDir, 'path'>,
  name: string,
  image: NativeImage,
  command: string,
  args: readonly string[],
  outputSuffix = '.enc.dcm',
): ParsedPart10 {
  const input = scratch.path(`${name}.raw.dcm`);
  const output = scratch.path(`${name}${outputSuffix}`);
  writeFileSync(input, writeNativeImage(image));
  runTool(command, [...args, input, output]);
  return readDicomFile(output);
}

/** Decodes a file to native with a tool (e.g. `dcmdjpls`, `gdcmconv --raw`) into `<name>.dec.dcm`. */
export function decodeFileWithTool(
  scratch: Pick<ScratchDir, 'path'>,
  inputPath: string,
  name: string,
  command: string,
  args: readonly string[],
): ParsedPart10 {
  const output = scratch.path(`${name}.dec.dcm`);
  runTool(command, [...args, inputPath, output]);
  return readDicomFile(output);
}

/** Decodes an encoded file with a tool and returns its first frame's samples (see nativeSamples). */
export function decodeWithTool(
  scratch: Pick<ScratchDir, 'path'>,
  inputPath: string,
  name: string,
  command: string,
  args: readonly string[],
): Uint8Array | Uint16Array | Int16Array {
  return nativeSamples(decodeFileWithTool(scratch, inputPath, name, command, args));
}
