import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_IMAGE_PIXELS as CONFIG_DEFAULT, loadConfig } from '@cxr/config';
import { DEFAULT_MAX_IMAGE_PIXELS } from '@cxr/dicom';

describe('worker limits', () => {
  it('configures the same default pixel limit as @cxr/dicom applies without configuration', () => {
    // @cxr/config depends on no package, so the value is written twice; this keeps them equal.
    expect(CONFIG_DEFAULT).toBe(DEFAULT_MAX_IMAGE_PIXELS);
    expect(loadConfig({}).decode.maxImagePixels).toBe(DEFAULT_MAX_IMAGE_PIXELS);
  });
});
