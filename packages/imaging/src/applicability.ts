/**
 * Whether a model applies to an image: the manifest's `accept` rules (@cxr/model's
 * acceptRulesOf) against the header, before any pixel is decoded. A CT, an ultrasound, a palette
 * test pattern or a dental panoramic decodes fine and would get a confident "diagnosis" from a
 * chest classifier; here it ends as `not_applicable` and is never scored.
 */
import { DicomRejectedError, type DicomImageInfo } from '@cxr/dicom';
import type { ManifestAccept } from '@cxr/model/manifest';

/** A header value as a message may show it: printable ASCII, at most 64 characters. */
function shown(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
}

function normalized(value: string): string {
  return value.trim().toUpperCase();
}

/** `value` is one of `allowed`, case-insensitively. */
function oneOf(value: string, allowed: readonly string[]): boolean {
  const wanted = normalized(value);
  return allowed.some((a) => normalized(a) === wanted);
}

/** Why the rule on one attribute fails for `value`, or undefined when it passes. */
function attributeProblem(
  name: string,
  value: string | undefined,
  allowed: readonly string[] | undefined,
  whenAbsent: 'refuse' | 'pass',
): string | undefined {
  if (allowed === undefined) return undefined;
  const list = allowed.join(', ');
  if (value === undefined || value.trim() === '') {
    return whenAbsent === 'pass' ? undefined : `no ${name}; the model accepts ${list}`;
  }
  return oneOf(value, allowed) ? undefined : `${name} ${shown(value)} is not one the model accepts (${list})`;
}

/**
 * The first rule `info` breaks, as a one-line reason without patient data (tag names, values of
 * technical tags, sizes), or undefined when the model applies. Modality and SOP Class must be
 * present when restricted; Body Part Examined and View Position are checked only when present
 * (many archives leave them empty).
 */
export function applicabilityProblem(info: DicomImageInfo, rules: ManifestAccept): string | undefined {
  const { technical, pixel } = info;
  const problem =
    attributeProblem('Modality (0008,0060)', technical.modality, rules.modalities, 'refuse') ??
    attributeProblem('SOP Class UID (0008,0016)', technical.sopClassUid, rules.sopClassUids, 'refuse') ??
    attributeProblem('Body Part Examined (0018,0015)', technical.bodyPartExamined, rules.bodyParts, 'pass') ??
    attributeProblem('View Position (0018,5101)', technical.viewPosition, rules.viewPositions, 'pass') ??
    attributeProblem(
      'Photometric Interpretation (0028,0004)',
      pixel.photometricInterpretation,
      rules.photometric,
      'refuse',
    );
  if (problem !== undefined) return problem;
  if (rules.singleFrame === true && pixel.numberOfFrames > 1) {
    return `${pixel.numberOfFrames} frames (0028,0008); the model accepts single-frame images only`;
  }
  if (rules.minRows !== undefined && pixel.rows < rules.minRows) {
    return `Rows (0028,0010) ${pixel.rows} is below the model's minimum of ${rules.minRows}`;
  }
  if (rules.minColumns !== undefined && pixel.columns < rules.minColumns) {
    return `Columns (0028,0011) ${pixel.columns} is below the model's minimum of ${rules.minColumns}`;
  }
  return undefined;
}

/** Throws DicomRejectedError `not_applicable` when the model does not apply to the image. */
export function checkApplicability(info: DicomImageInfo, rules: ManifestAccept): void {
  const problem = applicabilityProblem(info, rules);
  if (problem !== undefined) throw new DicomRejectedError('not_applicable', `not for this model: ${problem}`);
}
