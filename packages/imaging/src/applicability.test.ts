/**
 * The manifest's `accept` rules against real headers (audit finding 5): the public CT, the
 * multi-frame, the palette test patterns and an ultrasound decode fine but are not chest
 * radiographs; the public chest CR/DX files are. Checked on the header, before any pixel is decoded.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DicomRejectedError, readDicomInfo, type DicomImageInfo } from '@cxr/dicom';
import { SopClass, Tag, imagePixelElements, publicDicomPath, writeDicom } from '@cxr/dicom/testing';
import { DEFAULT_ACCEPT, type ManifestAccept } from '@cxr/model/manifest';
import { applicabilityProblem, checkApplicability } from './applicability.js';
import { runDecodeTask } from './decode-task.js';

const publicInfo = (name: string): DicomImageInfo =>
  readDicomInfo(new Uint8Array(readFileSync(publicDicomPath(name))));

const MODEL_INPUT = {
  size: 16,
  channels: 1,
  layout: 'NHWC',
  crop: 'none',
  resize: 'bilinear',
  intensity: { method: 'min-max' },
  normalization: { method: 'unit' },
} as const;

/** An 8-bit grey image with the given header attributes; `pixelBytes` short of rows x columns makes it undecodable. */
function image(
  options: {
    modality?: string;
    bodyPart?: string;
    viewPosition?: string;
    rows?: number;
    columns?: number;
    frames?: number;
    pixelBytes?: number;
  } = {},
): Uint8Array {
  const rows = options.rows ?? 256;
  const columns = options.columns ?? 256;
  const frames = options.frames ?? 1;
  return writeDicom([
    ...imagePixelElements({
      rows,
      columns,
      bitsAllocated: 8,
      sopClassUid: SopClass.DigitalXRayForPresentation,
      ...(options.modality === undefined ? {} : { modality: options.modality }),
      ...(options.frames === undefined ? {} : { numberOfFrames: frames }),
    }),
    { tag: Tag.SopInstanceUid, vr: 'UI', value: '2.25.42' },
    ...(options.bodyPart === undefined
      ? []
      : [{ tag: Tag.BodyPartExamined, vr: 'CS' as const, value: options.bodyPart }]),
    ...(options.viewPosition === undefined
      ? []
      : [{ tag: Tag.ViewPosition, vr: 'CS' as const, value: options.viewPosition }]),
    {
      tag: Tag.PixelData,
      vr: 'OB',
      value: new Uint8Array(options.pixelBytes ?? rows * columns * frames).fill(100),
    },
  ]);
}

describe('applicabilityProblem with the default (chest radiograph) rules', () => {
  it.each([
    ['fo_D_CLUNIE_CT1_RLE_FRAGS.dcm', 'Modality (0008,0060) CT is not one the model accepts (CR, DX)'],
    ['fo_IM-0001-0001-0001.dcm', 'Modality (0008,0060) CT is not one the model accepts (CR, DX)'],
    ['fo_multiframe.dcm', 'Modality (0008,0060) SC is not one the model accepts (CR, DX)'],
    ['fo_TestPattern_Palette.dcm', 'Modality (0008,0060) OT is not one the model accepts (CR, DX)'],
    [
      'other_TestPattern_Palette_16.jpeg_ls_lossless.dcm',
      'Modality (0008,0060) OT is not one the model accepts (CR, DX)',
    ],
    ['other_jpeg_2000_ybr_color_space.dcm', 'Modality (0008,0060) US is not one the model accepts (CR, DX)'],
    ['fo_JPEGwithIcon.dcm', 'Modality (0008,0060) XC is not one the model accepts (CR, DX)'],
  ])('refuses %s', (name, problem) => {
    expect(applicabilityProblem(publicInfo(name), DEFAULT_ACCEPT)).toBe(problem);
  });

  it.each([
    'fuji_cr_mono1_10bit.dcm',
    'philips_cr_rg1_j2ki.dcm',
    'fo_CR-ModalitySequenceLUT.dcm',
    'siim_cr_jpegbaseline.dcm',
    'siim_fake_mono1.dcm',
    'nih_dx_implicit.dcm',
  ])('accepts the chest radiograph %s', (name) => {
    expect(applicabilityProblem(publicInfo(name), DEFAULT_ACCEPT)).toBeUndefined();
  });

  it('refuses a dental panoramic, by modality (PX) or, filed as DX, by body part', () => {
    const info = (bytes: Uint8Array): DicomImageInfo => readDicomInfo(bytes);
    expect(applicabilityProblem(info(image({ modality: 'PX', bodyPart: 'JAW' })), DEFAULT_ACCEPT)).toBe(
      'Modality (0008,0060) PX is not one the model accepts (CR, DX)',
    );
    expect(applicabilityProblem(info(image({ modality: 'DX', bodyPart: 'JAW' })), DEFAULT_ACCEPT)).toBe(
      'Body Part Examined (0018,0015) JAW is not one the model accepts (CHEST, THORAX, LUNG)',
    );
    // Body part and view position are checked only when present; case does not matter.
    expect(applicabilityProblem(info(image({ modality: 'dx' })), DEFAULT_ACCEPT)).toBeUndefined();
    expect(applicabilityProblem(info(image({ bodyPart: 'Chest' })), DEFAULT_ACCEPT)).toBeUndefined();
  });

  it('refuses several frames, small images and a missing modality', () => {
    const info = (bytes: Uint8Array): DicomImageInfo => readDicomInfo(bytes);
    expect(applicabilityProblem(info(image({ frames: 3 })), DEFAULT_ACCEPT)).toBe(
      '3 frames (0028,0008); the model accepts single-frame images only',
    );
    expect(applicabilityProblem(info(image({ rows: 64 })), DEFAULT_ACCEPT)).toBe(
      "Rows (0028,0010) 64 is below the model's minimum of 128",
    );
    expect(applicabilityProblem(info(image({ columns: 100 })), DEFAULT_ACCEPT)).toBe(
      "Columns (0028,0011) 100 is below the model's minimum of 128",
    );
    const noModality = readDicomInfo(image());
    const { modality: _m, ...technical } = noModality.technical;
    expect(applicabilityProblem({ ...noModality, technical }, DEFAULT_ACCEPT)).toBe(
      'no Modality (0008,0060); the model accepts CR, DX',
    );
  });
});

describe('applicabilityProblem with a bundle’s own rules', () => {
  it('checks only the rules a manifest gives; {} accepts everything', () => {
    const palette = publicInfo('fo_TestPattern_Palette.dcm');
    expect(applicabilityProblem(palette, {})).toBeUndefined();
    expect(applicabilityProblem(palette, { photometric: ['MONOCHROME2'] })).toBe(
      'Photometric Interpretation (0028,0004) PALETTE COLOR is not one the model accepts (MONOCHROME2)',
    );
    expect(applicabilityProblem(publicInfo('fo_multiframe.dcm'), { singleFrame: true })).toBe(
      '140 frames (0028,0008); the model accepts single-frame images only',
    );
    const ct: ManifestAccept = { modalities: ['CT'], sopClassUids: ['1.2.840.10008.5.1.4.1.1.2'] };
    expect(applicabilityProblem(publicInfo('fo_D_CLUNIE_CT1_RLE_FRAGS.dcm'), ct)).toBeUndefined();
    expect(
      applicabilityProblem(publicInfo('siim_cr_jpegbaseline.dcm'), {
        sopClassUids: ['1.2.840.10008.5.1.4.1.1.1'],
      }),
    ).toBe(
      'SOP Class UID (0008,0016) 1.2.840.10008.5.1.4.1.1.7 is not one the model accepts (1.2.840.10008.5.1.4.1.1.1)',
    );
    expect(applicabilityProblem(publicInfo('fuji_cr_mono1_10bit.dcm'), { viewPositions: ['AP'] })).toBe(
      'View Position (0018,5101) PA is not one the model accepts (AP)',
    );
  });

  it('throws DicomRejectedError not_applicable with the reason on one line', () => {
    const error = (() => {
      try {
        checkApplicability(publicInfo('fo_D_CLUNIE_CT1_RLE_FRAGS.dcm'), DEFAULT_ACCEPT);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(DicomRejectedError);
    expect((error as DicomRejectedError).reason).toBe('not_applicable');
    expect((error as DicomRejectedError).message).toBe(
      'not for this model: Modality (0008,0060) CT is not one the model accepts (CR, DX)',
    );
  });
});

describe('runDecodeTask with accept rules', () => {
  it('refuses on the header before decoding: a CT with short Pixel Data is not_applicable, not pixel_data_short', async () => {
    const broken = image({ modality: 'CT', pixelBytes: 10 });
    await expect(
      runDecodeTask(broken, { output: { model: MODEL_INPUT, accept: null } }),
    ).rejects.toMatchObject({
      reason: 'pixel_data_short',
    });
    await expect(
      runDecodeTask(broken, { output: { model: MODEL_INPUT, accept: DEFAULT_ACCEPT } }),
    ).rejects.toMatchObject({ reason: 'not_applicable' });
    const chest = await runDecodeTask(image({ bodyPart: 'CHEST' }), {
      output: { model: MODEL_INPUT, accept: DEFAULT_ACCEPT },
    });
    expect(chest.pixels).toHaveLength(16 * 16);
  });
});
