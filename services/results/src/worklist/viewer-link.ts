/**
 * The link from a worklist row to its study in the hospital's viewer: CXR_VIEWER_URL_TEMPLATE
 * with {StudyInstanceUID}, {SeriesInstanceUID} and {SOPInstanceUID} replaced by the row's UIDs,
 * URL-encoded (OHIF, Orthanc Explorer 2 and most web viewers open a study from such a URL).
 */
import { VIEWER_URL_PLACEHOLDERS, type ViewerUrlPlaceholder } from '@cxr/config';

/** The UIDs a row has (null where the object had none). */
export type ViewerUids = Readonly<Record<ViewerUrlPlaceholder, string | null>>;

/** The viewer URL of a row, or undefined when the template needs a UID the row lacks. */
export function viewerUrl(template: string, uids: ViewerUids): string | undefined {
  const missing: string[] = [];
  const url = template.replaceAll(/\{([A-Za-z]+)\}/g, (whole, name: string) => {
    if (!(VIEWER_URL_PLACEHOLDERS as readonly string[]).includes(name)) return whole;
    const value = uids[name as ViewerUrlPlaceholder];
    if (value === null || value === '') {
      missing.push(name);
      return '';
    }
    return encodeURIComponent(value);
  });
  return missing.length > 0 ? undefined : url;
}
