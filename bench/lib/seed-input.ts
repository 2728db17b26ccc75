import type { DecodeOutput, ModelOutput } from '@cxr/imaging';
import { IMAGENET_NORMALIZATION } from '@cxr/model/manifest';

/**
 * "Preprocess" in the decode benches is what the worker does before inference: the seed model's
 * input block (see seedManifest in packages/model/src/init.ts): 512x512x3 NCHW, file window,
 * bilinear, ImageNet; decodeResolution left out, i.e. the default 'auto'.
 */
export const SEED_INPUT: ModelOutput['model'] = {
  size: 512,
  channels: 3,
  layout: 'NCHW',
  crop: 'none',
  resize: 'bilinear',
  intensity: { method: 'dicom-window' },
  normalization: {
    ...IMAGENET_NORMALIZATION,
    mean: [...IMAGENET_NORMALIZATION.mean],
    std: [...IMAGENET_NORMALIZATION.std],
  },
};
export const PREPROCESS: DecodeOutput = { model: SEED_INPUT, accept: null };
/** The same with decodeResolution 'full', the reference path. */
export const PREPROCESS_FULL: DecodeOutput = {
  model: { ...SEED_INPUT, decodeResolution: 'full' },
  accept: null,
};
