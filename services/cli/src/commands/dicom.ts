/**
 * `cxr dicom inspect | decode | render`: look at one DICOM file the way the pipeline sees it.
 * Patient identifiers are never printed: the inspect view is built field by field from
 * technical attributes only.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  applyModalityLut,
  decodeFrame,
  isDicomRejectedError,
  readDicomInfo,
  renderToDisplay,
  TRANSFER_SYNTAX_NAMES,
  type DecodedFrame,
  type DecodeWarning,
  type DicomImageInfo,
} from '@cxr/dicom';
import { encodeDisplayPng } from '@cxr/imaging';
import { CliError, ExitCode, RejectedInputError } from '../output.js';
import { integerOption } from '../options.js';

/** Reads a file and turns a DICOM rejection into an error that names the file. */
export async function readInput<T>(file: string, work: (bytes: Uint8Array) => Promise<T> | T): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'read error';
    throw new CliError(`${file}: cannot read (${code})`, ExitCode.Failure);
  }
  try {
    return await work(bytes);
  } catch (error) {
    if (isDicomRejectedError(error)) throw new RejectedInputError(file, error);
    throw error;
  }
}

/** The technical description printed by `cxr dicom inspect` (no patient data by construction). */
export function describeImage(info: DicomImageInfo): Record<string, unknown> {
  const { pixel, modalityLut, voi, technical, uids } = info;
  return {
    transferSyntax: { uid: info.transferSyntaxUid, name: TRANSFER_SYNTAX_NAMES[info.transferSyntaxUid] },
    preamble: info.hadPreamble,
    fileMeta: info.hadFileMeta,
    sopClassUid: technical.sopClassUid ?? null,
    sopInstanceUid: uids.sopInstanceUid ?? null,
    modality: technical.modality ?? null,
    manufacturer: technical.manufacturer ?? null,
    model: technical.manufacturerModelName ?? null,
    viewPosition: technical.viewPosition ?? null,
    bodyPart: technical.bodyPartExamined ?? null,
    photometricInterpretation: pixel.photometricInterpretation,
    rows: pixel.rows,
    columns: pixel.columns,
    samplesPerPixel: pixel.samplesPerPixel,
    bitsAllocated: pixel.bitsAllocated,
    bitsStored: pixel.bitsStored,
    highBit: pixel.highBit,
    pixelRepresentation: pixel.pixelRepresentation === 1 ? 'signed' : 'unsigned',
    planarConfiguration: pixel.planarConfiguration,
    frames: pixel.numberOfFrames,
    pixelData: pixel.floatingPoint ?? 'integer',
    palette: pixel.palette
      ? { entries: pixel.palette.red.data.length, bits: pixel.palette.red.bitsPerEntry }
      : null,
    modalityLut:
      modalityLut.kind === 'rescale'
        ? {
            kind: 'rescale',
            slope: modalityLut.slope,
            intercept: modalityLut.intercept,
            type: modalityLut.type ?? null,
          }
        : modalityLut.kind === 'table'
          ? {
              kind: 'table',
              entries: modalityLut.lut.data.length,
              firstMapped: modalityLut.lut.firstMapped,
              bits: modalityLut.lut.bitsPerEntry,
              type: modalityLut.type ?? null,
            }
          : { kind: 'identity' },
    voiLutFunction: voi.function,
    windows: voi.windows.map((w) => ({
      center: w.center,
      width: w.width,
      explanation: w.explanation ?? null,
    })),
    voiTables: voi.tables.length,
    functionalGroups: info.functionalGroups ?? null,
    warnings: info.warnings.map((w) => `${w.code}: ${w.message}`),
  };
}

/** One stderr line per warning, naming the file, as rejections are reported (output.ts). */
function printWarnings(file: string, warnings: readonly DecodeWarning[]): void {
  for (const w of warnings) process.stderr.write(`cxr: ${file}: warning (${w.code}): ${w.message}\n`);
}

function formatHuman(view: Record<string, unknown>): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(view)) {
    lines.push(
      `${key.padEnd(26)} ${typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Frame values as the `decode` command writes them: the Modality LUT applied to monochrome
 * frames, stored values for RGB; no VOI, no MONOCHROME1 inversion.
 */
export function modalityValues(frame: DecodedFrame, info: DicomImageInfo): Float32Array {
  if (frame.samplesPerPixel === 1) return applyModalityLut(frame.samples, info.modalityLut);
  return Float32Array.from(frame.samples);
}

/** Little-endian float32 bytes whatever the host byte order is. */
export function float32LittleEndian(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

export function registerDicomCommands(program: Command): void {
  const dicom = program.command('dicom').description('Inspect, decode and render DICOM files');

  dicom
    .command('inspect')
    .description('Print transfer syntax, pixel module, LUT attributes and windows (never patient data)')
    .argument('<file>', 'DICOM file')
    .option('--json', 'print JSON instead of text')
    .action(async (file: string, options: { json?: boolean }) => {
      const info = await readInput(file, (bytes) => readDicomInfo(bytes));
      const view = describeImage(info);
      process.stdout.write(options.json === true ? `${JSON.stringify(view, null, 2)}\n` : formatHuman(view));
      printWarnings(file, info.warnings);
    });

  dicom
    .command('decode')
    .description(
      'Write frame N as raw little-endian float32, row-major (HxW, or HxWx3 interleaved RGB), ' +
        'Modality LUT applied, no VOI and no MONOCHROME1 inversion',
    )
    .argument('<file>', 'DICOM file')
    .requiredOption('--out <path>', 'output .f32 file')
    .option('--frame <n>', 'frame index, 0-based', integerOption('--frame', 0), 0)
    .action(async (file: string, options: { out: string; frame: number }) => {
      const { values, frame, warnings } = await readInput(file, async (bytes) => {
        const decoded = await decodeFrame(bytes, { frame: options.frame });
        return {
          values: modalityValues(decoded.frame, decoded.info),
          frame: decoded.frame,
          warnings: decoded.warnings,
        };
      });
      await writeFile(options.out, float32LittleEndian(values));
      printWarnings(file, warnings);
      process.stderr.write(
        `wrote ${options.out}: ${frame.rows}x${frame.columns}${frame.samplesPerPixel === 3 ? 'x3' : ''} float32\n`,
      );
    });

  dicom
    .command('render')
    .description('Render frame N through the full LUT pipeline (modality, VOI, MONOCHROME1) as an 8-bit PNG')
    .argument('<file>', 'DICOM file')
    .requiredOption('--out <path>', 'output .png file')
    .option(
      '--size <pixels>',
      'longest side of the PNG (aspect ratio kept)',
      integerOption('--size', 1, 16384),
      512,
    )
    .option('--frame <n>', 'frame index, 0-based', integerOption('--frame', 0), 0)
    .action(async (file: string, options: { out: string; size: number; frame: number }) => {
      const { png, warnings } = await readInput(file, async (bytes) => {
        const { frame, info, warnings } = await decodeFrame(bytes, { frame: options.frame });
        const display = renderToDisplay(frame, info);
        const encoded = await encodeDisplayPng(display.values, {
          width: frame.columns,
          height: frame.rows,
          channels: display.channels,
          size: options.size,
        });
        return { png: encoded, warnings };
      });
      await writeFile(options.out, png);
      printWarnings(file, warnings);
    });
}
