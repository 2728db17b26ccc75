/**
 * Multi-frame Functional Groups (PS3.3 C.7.6.16): enhanced images (Enhanced CT/MR/XA/DX, legacy
 * converted, parametric maps...) keep per-frame attributes in functional group macros, either once
 * for all frames (Shared Functional Groups Sequence) or per frame (Per-frame Functional Groups
 * Sequence); a macro sits in one or the other, and the per-frame one is read first here.
 */
import type { DataSet } from 'dicom-parser';
import { DicomRejectedError } from './errors.js';
import { Tag } from './tags.js';
import type { FunctionalGroupSource } from './types.js';

/** The functional group items that apply to one frame. */
export interface FrameFunctionalGroups {
  readonly shared?: DataSet;
  readonly perFrame?: DataSet;
}

/** Macros whose content changes what pixel values mean; a frame without its item cannot be read. */
const VALUE_MACROS = [Tag.PixelValueTransformationSequence, Tag.FrameVoiLutSequence] as const;

/**
 * The shared item and frame `frameIndex`'s per-frame item. Throws unsupported_pixel_module when
 * the per-frame sequence carries value macros but has no item for this frame (its item count
 * disagrees with Number of Frames): guessing another frame's rescale would be silently wrong.
 */
export function frameFunctionalGroups(
  dataSet: DataSet,
  frameIndex: number,
  frames: number,
): FrameFunctionalGroups {
  const shared = dataSet.elements[Tag.SharedFunctionalGroupsSequence]?.items?.[0]?.dataSet;
  const items = dataSet.elements[Tag.PerFrameFunctionalGroupsSequence]?.items;
  let perFrame: DataSet | undefined;
  if (items !== undefined) {
    perFrame = items.length === frames ? items[frameIndex]?.dataSet : undefined;
    const carriesValues = (): boolean =>
      items.some((item) => VALUE_MACROS.some((tag) => item.dataSet?.elements[tag] !== undefined));
    if (perFrame === undefined && carriesValues()) {
      throw new DicomRejectedError(
        'unsupported_pixel_module',
        `Per-frame Functional Groups Sequence (5200,9230) has ${items.length} items for ${frames} frames: frame ${frameIndex}'s rescale/VOI is unknown`,
      );
    }
  }
  return { ...(shared === undefined ? {} : { shared }), ...(perFrame === undefined ? {} : { perFrame }) };
}

/** The first item of a functional group macro sequence for this frame, and where it was found. */
export function functionalGroupMacro(
  groups: FrameFunctionalGroups,
  sequenceTag: string,
): { readonly item: DataSet; readonly source: FunctionalGroupSource } | undefined {
  const perFrame = groups.perFrame?.elements[sequenceTag]?.items?.[0]?.dataSet;
  if (perFrame !== undefined) return { item: perFrame, source: 'per-frame' };
  const shared = groups.shared?.elements[sequenceTag]?.items?.[0]?.dataSet;
  if (shared !== undefined) return { item: shared, source: 'shared' };
  return undefined;
}
