/**
 * `cxr dicom inspect | decode | render`: look at one DICOM file the way the pipeline sees it.
 * This module registers the commands only; their actions (../actions/dicom.ts) load the decoders
 * when one runs.
 */
import type { Command } from 'commander';
import { integerOption } from '../options.js';

export function registerDicomCommands(program: Command): void {
  const dicom = program.command('dicom').description('Inspect, decode and render DICOM files');

  dicom
    .command('inspect')
    .description('Print transfer syntax, pixel module, LUT attributes and windows (never patient data)')
    .argument('<file>', 'DICOM file')
    .option('--json', 'print JSON instead of text')
    .action(async (file: string, options: { json?: boolean }) => {
      const { inspectCommand } = await import('../actions/dicom.js');
      await inspectCommand(file, options);
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
      const { decodeCommand } = await import('../actions/dicom.js');
      await decodeCommand(file, options);
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
      const { renderCommand } = await import('../actions/dicom.js');
      await renderCommand(file, options);
    });
}
