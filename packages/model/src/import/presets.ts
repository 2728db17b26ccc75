import { IMAGENET_NORMALIZATION, type InputLayout, type ManifestInput } from '../manifest.js';
import { IMPORT_PRESETS, type ImportPreset } from '../names.js';
import { ModelImportError } from './errors.js';

/**
 * Preprocessing recipes of the model families `cxr model import` knows. The graph fixes size,
 * channels and layout; a preset fills in crop, resize, intensity and normalization so that the
 * pipeline hands the model the tensor its own recipe would.
 */

export { IMPORT_PRESETS, type ImportPreset };

/**
 * TorchXRayVision's 18 pathologies in the order of its DenseNet121 outputs
 * (torchxrayvision/datasets.py `default_pathologies`, the `labels` of models.py
 * `model_urls['densenet121-res224-all']`). Its single-dataset weights (nih, pc, chex, ...) keep
 * this order and leave the pathologies they were not trained on as '' (scores meaningless).
 */
export const XRV_PATHOLOGIES = [
  'Atelectasis',
  'Consolidation',
  'Infiltration',
  'Pneumothorax',
  'Edema',
  'Emphysema',
  'Fibrosis',
  'Effusion',
  'Pneumonia',
  'Pleural_Thickening',
  'Cardiomegaly',
  'Nodule',
  'Mass',
  'Hernia',
  'Lung Lesion',
  'Fracture',
  'Lung Opacity',
  'Enlarged Cardiomediastinum',
] as const;

interface PresetSpec {
  /** The channel count the recipe produces; a graph taking another is refused. */
  readonly channels: 1 | 3;
  /** One line for `cxr model import` and provenance. */
  readonly recipe: string;
  readonly input: Pick<ManifestInput, 'crop' | 'resize' | 'intensity' | 'normalization'>;
  /** Labels in output order, used when the graph's output width equals their count. */
  readonly labels?: { readonly names: readonly string[]; readonly source: string };
}

const PRESETS: Readonly<Record<ImportPreset, PresetSpec>> = {
  // TorchXRayVision: read_xray_dcm (stored values / (2^BitsStored - 1), MONOCHROME1 inverted, no
  // VOI) then normalize() to [-1024, 1024], XRayCenterCrop, XRayResizer (skimage bilinear with
  // Gaussian anti-aliasing; libvips' bilinear reduce is the nearest filter the pipeline has).
  xrv: {
    channels: 1,
    recipe:
      'TorchXRayVision: 1 channel, stored values over their bit depth (read_xray_dcm), centre square crop, bilinear, [-1024, 1024]',
    input: {
      crop: 'center-square',
      resize: 'bilinear',
      intensity: { method: 'bits-stored' },
      normalization: { method: 'xrv' },
    },
    labels: {
      names: XRV_PATHOLOGIES,
      source: "TorchXRayVision's 18 pathologies (datasets.default_pathologies order)",
    },
  },
  // torchvision ImageNet models: [0,1] RGB, Normalize(mean, std); the grey image is replicated to
  // R, G and B. The image is stretched to a square (Resize((s, s))), as the seed model does.
  imagenet: {
    channels: 3,
    recipe:
      'ImageNet: 3 channels (grey replicated), DICOM window, stretched to a square, bilinear, ImageNet mean/std',
    input: {
      crop: 'none',
      resize: 'bilinear',
      intensity: { method: 'dicom-window' },
      normalization: {
        method: 'imagenet',
        mean: [...IMAGENET_NORMALIZATION.mean],
        std: [...IMAGENET_NORMALIZATION.std],
      },
    },
  },
};

/** The preset for a graph's channel count when none is named: 1 -> xrv, 3 -> imagenet. */
export function defaultPreset(channels: 1 | 3): ImportPreset {
  return channels === 1 ? 'xrv' : 'imagenet';
}

/** One line saying what a preset does. */
export function presetRecipe(preset: ImportPreset): string {
  return PRESETS[preset].recipe;
}

/**
 * The manifest `input` block for a graph under a preset; throws `preset_mismatch` when the graph
 * takes another channel count than the preset's recipe produces.
 */
export function presetInput(
  preset: ImportPreset,
  graph: { readonly size: number; readonly channels: 1 | 3; readonly layout: InputLayout },
  file: string,
): ManifestInput {
  const spec = PRESETS[preset];
  if (graph.channels !== spec.channels) {
    throw new ModelImportError(
      'preset_mismatch',
      `${file}: preset ${preset} makes ${spec.channels}-channel inputs but the graph takes ${graph.channels} (use --preset ${defaultPreset(graph.channels)})`,
    );
  }
  return { size: graph.size, channels: graph.channels, layout: graph.layout, ...structuredClone(spec.input) };
}

/** The preset's label list when it has one for `outputs` scores, with where it comes from. */
export function presetLabels(
  preset: ImportPreset,
  outputs: number,
): { readonly labels: readonly string[]; readonly source: string } | undefined {
  const known = PRESETS[preset].labels;
  return known !== undefined && known.names.length === outputs
    ? { labels: known.names, source: known.source }
    : undefined;
}
