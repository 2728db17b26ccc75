import type { InputLayout, OutputActivation } from '../manifest.js';
import {
  graphInputs,
  ONNX_FLOAT32,
  type OnnxNodeSummary,
  type OnnxSummary,
  type OnnxValueInfoSummary,
} from '../onnx/proto.js';
import { ModelImportError } from './errors.js';

/**
 * What a foreign ONNX graph says about itself, read from the file alone (no runtime): whether it
 * is a single-image classifier the pipeline can feed, its input tensor (layout, channels, size)
 * and its output (width, and the activation the graph applies last). Pure.
 */

/** The facts of an image classifier graph that a manifest needs. */
export interface ClassifierGraph {
  readonly inputName: string;
  /** As declared, batch first; symbolic dims by name ('' when unnamed). */
  readonly inputShape: readonly (number | string)[];
  readonly layout: InputLayout;
  readonly channels: 1 | 3;
  /** Square side the pipeline will feed. */
  readonly size: number;
  /** 'graph': height and width are fixed in the file; 'option': they are dynamic and `size` was given. */
  readonly sizeFrom: 'graph' | 'option';
  /** A fixed batch (always 1: larger fixed batches are refused) or 'dynamic'. */
  readonly batch: 1 | 'dynamic';
  readonly outputName: string;
  /** Scores per image: the output's second dimension. */
  readonly outputs: number;
  /** What the graph applies last (behind shape-only ops); 'none' when it is anything else. */
  readonly activation: OutputActivation;
  /** The node that applies it, as `Sigmoid "name"`, when the graph ends with one. */
  readonly activationNode?: string;
  /** Conv nodes in the graph: 120 for DenseNet121. */
  readonly convolutions: number;
  /** How running the graph should be configured or what it was taken for, one sentence each. */
  readonly warnings: readonly string[];
}

/** Conv layers of DenseNet121: the stem, 2 per dense layer (58 layers), 1 per transition (3). */
export const DENSENET121_CONVOLUTIONS = 120;

/**
 * Why a graph may not be a DenseNet121, or undefined when its Conv count is DenseNet121's (the
 * only architecture a manifest names, so an imported bundle says densenet121 regardless).
 */
export function architectureDoubt(graph: Pick<ClassifierGraph, 'convolutions'>): string | undefined {
  return graph.convolutions === DENSENET121_CONVOLUTIONS
    ? undefined
    : `the graph has ${graph.convolutions} Conv nodes where DenseNet121 has ${DENSENET121_CONVOLUTIONS}: manifest.architecture says densenet121 all the same`;
}

// Ops that move values around without changing them: an activation behind them is still the last
// thing the graph computes on the scores (PyTorch and tf2onnx exports end with these).
const SHAPE_ONLY_OPS: ReadonlySet<string> = new Set([
  'Identity',
  'Reshape',
  'Flatten',
  'Squeeze',
  'Unsqueeze',
]);

// TensorProto.DataType names for messages.
const DATA_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  6: 'int32',
  7: 'int64',
  10: 'float16',
  11: 'float64',
  16: 'bfloat16',
};

function typeName(elemType: number): string {
  return DATA_TYPE_NAMES[elemType] ?? (elemType === 0 ? 'not a tensor' : `data type ${elemType}`);
}

function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.map((d) => (typeof d === 'number' ? String(d) : d === '' ? '?' : d)).join(',')}]`;
}

/** A dimension the file fixes to a positive size (symbolic, unknown, 0 and negative ones are not). */
function fixedDim(dim: number | string | undefined): number | undefined {
  return typeof dim === 'number' && dim > 0 ? dim : undefined;
}

function isChannelCount(dim: number | string | undefined): dim is 1 | 3 {
  return dim === 1 || dim === 3;
}

function checkFloatTensor(file: string, role: string, value: OnnxValueInfoSummary): void {
  if (value.elemType !== ONNX_FLOAT32) {
    throw new ModelImportError(
      'unsupported_graph',
      `${file}: ${role} "${value.name}" is ${typeName(value.elemType)}, expected float32`,
    );
  }
  if (!value.hasShape) {
    throw new ModelImportError(
      'unsupported_graph',
      `${file}: ${role} "${value.name}" declares no shape (re-export with shapes, e.g. torch.onnx.export)`,
    );
  }
}

/** NCHW or NHWC and the channel count, from where a dimension of 1 or 3 sits. */
function layoutOf(file: string, input: OnnxValueInfoSummary): { layout: InputLayout; channels: 1 | 3 } {
  const [, second, , last] = input.shape;
  const channelsFirst = isChannelCount(second);
  const channelsLast = isChannelCount(last);
  if (channelsFirst && !channelsLast) return { layout: 'NCHW', channels: second };
  if (channelsLast && !channelsFirst) return { layout: 'NHWC', channels: last };
  const shape = formatShape(input.shape);
  throw new ModelImportError(
    'unsupported_graph',
    channelsFirst
      ? `${file}: input "${input.name}" ${shape}: cannot tell NCHW from NHWC (both ends could be channels)`
      : `${file}: input "${input.name}" ${shape}: no channel dimension of 1 or 3 after the batch (NCHW) or last (NHWC)`,
  );
}

/** The square side: the graph's fixed height and width, else `size`. */
function sizeOf(
  file: string,
  input: OnnxValueInfoSummary,
  layout: InputLayout,
  size: number | undefined,
): { size: number; sizeFrom: 'graph' | 'option' } {
  const [, a, b, c] = input.shape;
  const [height, width] = layout === 'NCHW' ? [b, c] : [a, b];
  const fixed = [fixedDim(height), fixedDim(width)].filter((d) => d !== undefined);
  const shape = formatShape(input.shape);
  if (fixed.length === 2 && fixed[0] !== fixed[1]) {
    throw new ModelImportError(
      'unsupported_graph',
      `${file}: input "${input.name}" ${shape} is not square (the pipeline feeds size x size images)`,
    );
  }
  const graphSize = fixed[0];
  if (graphSize === undefined) {
    if (size === undefined) {
      throw new ModelImportError(
        'size_required',
        `${file}: input "${input.name}" ${shape} has dynamic height and width: give the size the model was trained at (--size N)`,
      );
    }
    return { size, sizeFrom: 'option' };
  }
  if (size !== undefined && size !== graphSize) {
    throw new ModelImportError(
      'size_conflict',
      `${file}: input "${input.name}" ${shape} is fixed at ${graphSize} x ${graphSize}, not ${size}`,
    );
  }
  return { size: graphSize, sizeFrom: 'graph' };
}

/**
 * The activation the graph applies last to `outputName`: Sigmoid, or Softmax over the class axis,
 * possibly behind shape-only ops (Identity, Reshape, Flatten, Squeeze, Unsqueeze). Anything else
 * (Gemm, MatMul, Add, LogSoftmax, an operating-point rescale) is 'none': raw scores.
 */
export function finalActivation(
  nodes: readonly OnnxNodeSummary[],
  outputName: string,
): { activation: OutputActivation; node?: OnnxNodeSummary; warning?: string } {
  const producers = new Map<string, OnnxNodeSummary>();
  for (const node of nodes) for (const output of node.outputs) producers.set(output, node);
  let name = outputName;
  // A chain of shape-only ops is short; the bound only guards against a malformed cyclic file.
  for (let step = 0; step <= nodes.length; step++) {
    const node = producers.get(name);
    if (node === undefined || node.domain !== '') return { activation: 'none' };
    switch (node.opType) {
      case 'Sigmoid':
        return { activation: 'sigmoid', node };
      case 'Softmax': {
        // Opset 13+: default axis -1; before: default 1 over the input coerced to 2D. On the
        // [batch, classes] scores both are the class axis; any other axis is not.
        const axis = node.intAttributes.axis;
        if (axis === undefined || axis === 1 || axis === -1) return { activation: 'softmax', node };
        return {
          activation: 'none',
          warning: `the graph ends with a Softmax over axis ${axis}, not over the classes: treated as raw scores`,
        };
      }
      default: {
        const source = node.inputs[0];
        if (!SHAPE_ONLY_OPS.has(node.opType) || source === undefined) return { activation: 'none' };
        name = source;
      }
    }
  }
  return { activation: 'none' };
}

/**
 * Reads a classifier's input and output from an ONNX summary, or throws ModelImportError naming
 * `file` and what the pipeline cannot run: several inputs or outputs, not float32, an input that
 * is not rank 4 with 1 or 3 channels, a non-square or (without `size`) dynamic height and width,
 * a fixed batch other than 1, an output that is not [batch, classes].
 */
export function describeClassifierGraph(
  summary: OnnxSummary,
  options: { readonly file: string; readonly size?: number },
): ClassifierGraph {
  const { file } = options;
  const inputs = graphInputs(summary);
  const [input] = inputs;
  if (input === undefined || inputs.length !== 1) {
    throw new ModelImportError(
      'unsupported_graph',
      `${file}: the graph has ${inputs.length} inputs${inputs.length > 0 ? ` (${inputs.map((i) => `"${i.name}"`).join(', ')})` : ''}, expected one image input`,
    );
  }
  checkFloatTensor(file, 'input', input);
  if (input.shape.length !== 4) {
    throw new ModelImportError(
      'unsupported_graph',
      `${file}: input "${input.name}" ${formatShape(input.shape)} has rank ${input.shape.length}, expected 4 (NCHW or NHWC images)`,
    );
  }
  const warnings: string[] = [];
  const { layout, channels } = layoutOf(file, input);
  const { size, sizeFrom } = sizeOf(file, input, layout, options.size);
  const batchDim = fixedDim(input.shape[0]);
  if (batchDim !== undefined && batchDim !== 1) {
    throw new ModelImportError(
      'unsupported_graph',
      `${file}: input "${input.name}" ${formatShape(input.shape)} has a fixed batch of ${batchDim}: export it with a dynamic batch axis (or batch 1)`,
    );
  }
  if (batchDim === 1) {
    warnings.push(
      'the graph takes a fixed batch of 1: run it with CXR_MAX_BATCH=1, or re-export it with a dynamic batch axis',
    );
  }

  const [output] = summary.outputs;
  if (output === undefined || summary.outputs.length !== 1) {
    throw new ModelImportError(
      'unsupported_graph',
      `${file}: the graph has ${summary.outputs.length} outputs, expected one (the class scores)`,
    );
  }
  checkFloatTensor(file, 'output', output);
  const width = fixedDim(output.shape[1]);
  if (output.shape.length !== 2 || width === undefined) {
    throw new ModelImportError(
      'unsupported_graph',
      `${file}: output "${output.name}" ${formatShape(output.shape)} is not [batch, classes] with a fixed number of classes`,
    );
  }
  const outputBatch = fixedDim(output.shape[0]);
  if (outputBatch !== undefined && outputBatch !== 1) {
    throw new ModelImportError(
      'unsupported_graph',
      `${file}: output "${output.name}" ${formatShape(output.shape)} has a fixed batch of ${outputBatch}`,
    );
  }

  const last = finalActivation(summary.nodes, output.name);
  if (last.warning !== undefined) warnings.push(last.warning);
  const convolutions = summary.nodes.filter((n) => n.opType === 'Conv').length;
  return {
    inputName: input.name,
    inputShape: input.shape,
    layout,
    channels,
    size,
    sizeFrom,
    batch: batchDim === 1 ? 1 : 'dynamic',
    outputName: output.name,
    outputs: width,
    activation: last.activation,
    ...(last.node === undefined
      ? {}
      : { activationNode: `${last.node.opType}${last.node.name === '' ? '' : ` "${last.node.name}"`}` }),
    convolutions,
    warnings,
  };
}
