/**
 * The actions of `cxr dicom inspect | decode | render` (loaded only when one runs). Patient
 * identifiers are never printed: the inspect view is built field by field from technical
 * attributes only.
 */
import { writeFile } from 'node:fs/promises';
import {
  applyModalityLut,
  decodeFrame,
  readDicomInfo,
  renderToDisplay,
  TRANSFER_SYNTAX_NAMES,
  type DecodedFrame,
  type DecodeWarning,
  type DicomImageInfo,
} from '@cxr/dicom';
import { float32LittleEndian, readInput } from './input.js';

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

/** `cxr dicom inspect`. */
export async function inspectCommand(file: string, options: { json?: boolean }): Promise<void> {
  const info = await readInput(file, (bytes) => readDicomInfo(bytes));
  const view = describeImage(info);
  process.stdout.write(options.json === true ? `${JSON.stringify(view, null, 2)}\n` : formatHuman(view));
  printWarnings(file, info.warnings);
}

/** `cxr dicom decode`. */
export async function decodeCommand(file: string, options: { out: string; frame: number }): Promise<void> {
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
}

/** `cxr dicom render`. */
export async function renderCommand(
  file: string,
  options: { out: string; size: number; frame: number },
): Promise<void> {
  // sharp loads with the PNG encoder, only here.
  const { encodeDisplayPng } = await import('@cxr/imaging');
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
}
