/**
 * The optional Secondary Capture summary of one screened image, for PACS viewers that do not
 * display SR: the source rendered through its LUTs at a readable size, with a banner below it
 * naming the model, the decision and each label's score, and "AI screening, not a diagnosis".
 * The banner holds findings and model only; the image holds only what the source image shows.
 */
import { decodeFrame, renderToDisplay } from '@cxr/dicom';
import { renderImageWithBanner, type BannerText } from '@cxr/imaging';
import type { ModelManifest } from '@cxr/model/manifest';
import {
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  MANUFACTURER,
  NOT_A_DIAGNOSIS,
  commonAttributes,
  findingsIdentity,
  findingsSeriesDescription,
  longString,
  withCharacterSet,
} from './dataset.js';
import { FindingsError } from './errors.js';
import { interpretResult, type InterpretedResult } from './interpret.js';
import { writePart10 } from './part10.js';
import type { FindingsInput, FindingsObject } from './report.js';
import { readSourceImage } from './source.js';

/** Secondary Capture Image Storage SOP Class (PS3.4 B.5). */
export const SECONDARY_CAPTURE_SOP_CLASS_UID = '1.2.840.10008.5.1.4.1.1.7';
/** Default longest side of the summary image (before the banner), in pixels. */
export const SUMMARY_IMAGE_SIZE = 1024;

/** Whether the bundle asks for summary images (manifest `findings.summaryImage`). */
export function summaryImageWanted(manifest: Pick<ModelManifest, 'findings'>): boolean {
  return manifest.findings?.summaryImage === true;
}

function formatScore(score: number): string {
  return Number.isInteger(score) ? String(score) : score.toFixed(Math.abs(score) >= 100 ? 1 : 3);
}

/** The banner text: built from the interpreted result alone, so it cannot carry patient data. */
export function summaryBanner(interpreted: InterpretedResult): BannerText {
  return {
    heading: [
      `${NOT_A_DIAGNOSIS} - ${MANUFACTURER}, model ${interpreted.modelId} ${interpreted.modelVersion}`,
      `Result: ${interpreted.diagnosisConcept.meaning}`,
    ],
    items: interpreted.labels.map(
      (f) =>
        `${f.concept.meaning} ${formatScore(f.score)}${f.threshold === undefined ? '' : ` (threshold ${formatScore(f.threshold)})`}${f.positive ? ' POSITIVE' : ''}`,
    ),
  };
}

/**
 * Builds the Secondary Capture summary of an ok result: deterministic UIDs (other purposes than
 * the SR's), a series next to the SR's, the same Patient and Study modules. Throws FindingsError.
 */
export async function buildSummaryImage(
  input: FindingsInput & { readonly size?: number },
): Promise<FindingsObject> {
  const interpreted = interpretResult(input.result, input.manifest);
  const source = readSourceImage(input.source);
  let display: ReturnType<typeof renderToDisplay>;
  let frame: Awaited<ReturnType<typeof decodeFrame>>['frame'];
  try {
    const decoded = await decodeFrame(input.source);
    frame = decoded.frame;
    display = renderToDisplay(frame, decoded.info);
  } catch (cause) {
    // Decoder messages name syntaxes and sizes, never header values; still, keep to the reason.
    throw new FindingsError(
      'source_undecodable',
      "the source image's pixels could not be decoded and rendered",
      {
        cause,
      },
    );
  }
  // A failure here (no font for the banner) is the machine's, not the source's: a plain Error.
  const rendered = await renderImageWithBanner(
    display.values,
    {
      width: frame.columns,
      height: frame.rows,
      channels: display.channels,
      size: input.size ?? SUMMARY_IMAGE_SIZE,
    },
    summaryBanner(interpreted),
  );
  const identity = findingsIdentity('summary', source, input.manifest);
  // Pixel Data is an even number of bytes (PS3.5 7.1.1): pad an odd count with a zero.
  const pixels = new Uint8Array(rendered.pixels.length + (rendered.pixels.length % 2));
  pixels.set(rendered.pixels);
  const dataset = withCharacterSet({
    ...commonAttributes(SECONDARY_CAPTURE_SOP_CLASS_UID, identity, source, interpreted, input.now),
    // General Series (PS3.3 C.7.3.1): a derived picture, not an acquisition of the source modality.
    Modality: 'OT',
    // Laterality is Type 2C, for paired body parts: the source's Body Part Examined says which
    // (CHEST is unpaired: no Laterality); without one, Laterality is written empty (unknown).
    ...(source.bodyPartExamined === undefined
      ? { Laterality: '' }
      : { BodyPartExamined: source.bodyPartExamined }),
    SeriesDescription: findingsSeriesDescription('summary', interpreted.modelId, interpreted.modelVersion),
    // SC Equipment (PS3.3 C.8.6.1): made on a workstation.
    ConversionType: 'WSD',
    SecondaryCaptureDeviceManufacturer: MANUFACTURER,
    SecondaryCaptureDeviceManufacturerModelName: longString(interpreted.modelId),
    // General Image (PS3.3 C.7.6.1): the banner is burned-in text.
    ImageType: ['DERIVED', 'SECONDARY'],
    PatientOrientation: source.patientOrientation ?? '',
    BurnedInAnnotation: 'YES',
    ...(source.lossyImageCompression === '01' ? { LossyImageCompression: '01' } : {}),
    DerivationDescription:
      'Source rendered through its LUTs and resized, with a banner of AI screening results',
    SourceImageSequence: [
      { ReferencedSOPClassUID: source.sopClassUid, ReferencedSOPInstanceUID: source.sopInstanceUid },
    ],
    // Image Pixel (PS3.3 C.7.6.3): 8-bit, MONOCHROME2 for grey sources (MONOCHROME1 was inverted).
    SamplesPerPixel: rendered.channels,
    PhotometricInterpretation: rendered.channels === 1 ? 'MONOCHROME2' : 'RGB',
    ...(rendered.channels === 3 ? { PlanarConfiguration: 0 } : {}),
    Rows: rendered.height,
    Columns: rendered.width,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: 'OB' },
  });
  const bytes = writePart10(dataset, {
    sopClassUid: SECONDARY_CAPTURE_SOP_CLASS_UID,
    sopInstanceUid: identity.sopInstanceUid,
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
  });
  return {
    sopClassUid: SECONDARY_CAPTURE_SOP_CLASS_UID,
    sopInstanceUid: identity.sopInstanceUid,
    seriesInstanceUid: identity.seriesInstanceUid,
    studyInstanceUid: source.studyInstanceUid,
    bytes,
  };
}
