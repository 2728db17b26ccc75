import type * as tf from '@tensorflow/tfjs';
import { version as tfjsVersion } from '@tensorflow/tfjs';
import type { InputLayout, OutputActivation } from '../manifest.js';
import { encodeOnnxModel, type OnnxAttribute, type OnnxNode, type OnnxTensor } from './proto.js';

/**
 * tfjs-layers -> ONNX for the layers DenseNet121 and its head use. tfjs layers are NHWC; ONNX Conv
 * and pooling are NCHW, so every tensor inside the exported graph is NCHW and axes are remapped.
 *
 * BatchNormalization is folded into the convolution that feeds it when that is exact: the BN's
 * only input is a linear Conv2D whose output nobody else reads (conv1/conv -> conv1/bn and every
 * `*_1_conv -> *_1_bn`). In DenseNet's BN-ReLU-conv order the other BNs follow concatenations, and
 * folding into the following conv is not exact (ReLU in between), so they become Mul + Add with
 * per-channel constants.
 */

/** Graph tensor names; the runtime reads them from the session, these are the values we write. */
export const ONNX_INPUT_NAME = 'input';
export const ONNX_OUTPUT_NAME = 'scores';

export interface OnnxExportOptions {
  /**
   * Layout of the graph input. NCHW (default): the graph takes NCHW directly. NHWC: one Transpose
   * at the input. Either way the bundle manifest's input.layout must say the same.
   */
  readonly inputLayout?: InputLayout;
  /** Extra ModelProto metadata_props. */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface OnnxExportResult {
  readonly bytes: Uint8Array;
  readonly inputLayout: InputLayout;
  /** Names of the BatchNormalization layers folded into their convolution. */
  readonly foldedBatchNorms: readonly string[];
  /** Activation the graph applies last (what manifest.output.activation must say). */
  readonly finalActivation: OutputActivation;
}

type Config = Record<string, unknown>;
type InboundRef = [string, number, number, unknown];

interface LayerJson {
  name: string;
  class_name: string;
  config: Config;
  inbound_nodes: InboundRef[][];
}

interface TopologyJson {
  config: {
    layers: LayerJson[];
    input_layers: [string, number, number][];
    output_layers: [string, number, number][];
  };
}

class ExportError extends Error {
  override readonly name = 'OnnxExportError';
}

function numbers(cfg: Config, key: string, layer: string): number[] {
  const v = cfg[key];
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v;
  throw new ExportError(`onnx export: layer ${layer}: config.${key} is not a number or number list`);
}

function str(cfg: Config, key: string, fallback: string): string {
  const v = cfg[key];
  return typeof v === 'string' ? v : fallback;
}

function ints(name: string, value: readonly number[]): OnnxAttribute {
  return { name, kind: 'ints', value };
}

/** Converts a tfjs LayersModel (single NHWC image input, single output) to ONNX bytes. */
export function exportLayersModelToOnnx(
  model: tf.LayersModel,
  options: OnnxExportOptions = {},
): OnnxExportResult {
  const inputLayout = options.inputLayout ?? 'NCHW';
  const topology = model.toJSON(undefined, false) as unknown as TopologyJson;
  const layers = topology.config.layers;
  const byName = new Map(layers.map((l) => [l.name, l]));
  if (topology.config.input_layers.length !== 1 || topology.config.output_layers.length !== 1) {
    throw new ExportError('onnx export: only models with one input and one output are supported');
  }
  const outputLayer = topology.config.output_layers[0]![0];

  // How many times each layer's output is read (graph output included): folding a BN into its conv
  // is only exact when the BN is the conv's sole reader.
  const readers = new Map<string, string[]>();
  for (const l of layers) {
    if (l.inbound_nodes.length > 1)
      throw new ExportError(`onnx export: layer ${l.name} is shared; not supported`);
    for (const ref of l.inbound_nodes[0] ?? []) readers.set(ref[0], [...(readers.get(ref[0]) ?? []), l.name]);
  }
  readers.set(outputLayer, [...(readers.get(outputLayer) ?? []), '<graph output>']);

  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const tensorOf = new Map<string, string>(); // layer name -> ONNX tensor holding its output
  const folded = new Set<string>();
  // Last activation applied on the way to each layer's output (Dropout passes its input's through).
  const appliedActivation = new Map<string, OutputActivation>();
  let graphInput: (number | string)[] | undefined;

  const inputOf = (l: LayerJson): string[] =>
    (l.inbound_nodes[0] ?? []).map((ref) => {
      if (ref[2] !== 0)
        throw new ExportError(`onnx export: layer ${l.name}: multi-output inputs not supported`);
      const t = tensorOf.get(ref[0]);
      if (t === undefined)
        throw new ExportError(`onnx export: layer ${l.name}: input ${ref[0]} not yet emitted`);
      return t;
    });
  const weightsOf = (name: string): Map<string, { shape: number[]; data: Float32Array }> => {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const w of model.getLayer(name).weights) {
      // originalName: tfjs uniquifies `name` (`.../kernel_1`) when several models share a process.
      const key = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
      out.set(key, { shape: [...w.shape] as number[], data: Float32Array.from(w.read().dataSync()) });
    }
    return out;
  };
  // Shape of a layer's (first) input, batch dimension included.
  const inputShapeOf = (name: string): readonly (number | null)[] => {
    const input = model.getLayer(name).input;
    const first = Array.isArray(input) ? input[0] : input;
    if (first === undefined) throw new ExportError(`onnx export: layer ${name} has no input`);
    return first.shape;
  };
  const rankOfInput = (name: string): number => {
    return inputShapeOf(name).length;
  };
  const spatialInput = (name: string): [number, number] => {
    const shape = inputShapeOf(name);
    const h = shape[1];
    const w = shape[2];
    if (typeof h !== 'number' || typeof w !== 'number') {
      throw new ExportError(`onnx export: layer ${name}: needs a static input size for "same" padding`);
    }
    return [h, w];
  };
  // TensorFlow "same": total padding so that out = ceil(in / stride), the extra pixel at the end.
  const samePads = (name: string, kernel: number[], strides: number[], dilations: number[]): number[] => {
    const [h, w] = spatialInput(name);
    const one = (size: number, k: number, s: number, d: number): [number, number] => {
      const out = Math.ceil(size / s);
      const total = Math.max((out - 1) * s + (k - 1) * d + 1 - size, 0);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    };
    const [hb, he] = one(h, kernel[0]!, strides[0]!, dilations[0]!);
    const [wb, we] = one(w, kernel[1]!, strides[1]!, dilations[1]!);
    return [hb, wb, he, we];
  };
  const checkChannelsLast = (l: LayerJson): void => {
    const format = str(l.config, 'data_format', 'channels_last');
    if (format !== 'channels_last')
      throw new ExportError(`onnx export: layer ${l.name}: data_format ${format}`);
  };
  // Appends the layer's fused activation (if any) after `pre`; returns the tensor with the result.
  const activation = (l: LayerJson, name: string, pre: string): string => {
    const kind = str(l.config, 'activation', 'linear');
    const op = { relu: 'Relu', sigmoid: 'Sigmoid', softmax: 'Softmax', tanh: 'Tanh' }[kind];
    if (kind === 'linear') {
      appliedActivation.set(l.name, 'none');
      return pre;
    }
    if (op === undefined)
      throw new ExportError(`onnx export: layer ${l.name}: activation ${kind} not supported`);
    appliedActivation.set(l.name, kind === 'softmax' || kind === 'sigmoid' ? kind : 'none');
    // tfjs softmax runs over the last (channel) axis, which is axis 1 in NCHW and in [N, C].
    if (op === 'Softmax' && rankOfInput(l.name) === 3) {
      throw new ExportError(`onnx export: layer ${l.name}: softmax on a rank-3 tensor not supported`);
    }
    nodes.push({
      opType: op,
      name: `${l.name}/${kind}`,
      inputs: [pre],
      outputs: [name],
      attributes: op === 'Softmax' ? [{ name: 'axis', kind: 'int', value: 1 }] : [],
    });
    return name;
  };
  // y = gamma (x - mean) / sqrt(var + eps) + beta  ==  x * scale + shift, computed in float64.
  const bnAffine = (l: LayerJson): { scale: Float64Array; shift: Float64Array } => {
    const axis = l.config.axis;
    const rank = rankOfInput(l.name);
    if (!(
      axis === -1 ||
      axis === rank - 1 ||
      (Array.isArray(axis) && axis.length === 1 && axis[0] === rank - 1)
    )) {
      throw new ExportError(`onnx export: layer ${l.name}: batch norm over axis ${JSON.stringify(axis)}`);
    }
    const w = weightsOf(l.name);
    const mean = w.get('moving_mean')?.data;
    const variance = w.get('moving_variance')?.data;
    if (mean === undefined || variance === undefined) {
      throw new ExportError(`onnx export: layer ${l.name}: missing moving statistics`);
    }
    const eps = typeof l.config.epsilon === 'number' ? l.config.epsilon : 1e-3;
    const gamma = w.get('gamma')?.data;
    const beta = w.get('beta')?.data;
    const scale = new Float64Array(mean.length);
    const shift = new Float64Array(mean.length);
    for (let c = 0; c < mean.length; c++) {
      scale[c] = (gamma?.[c] ?? 1) / Math.sqrt(variance[c]! + eps);
      shift[c] = (beta?.[c] ?? 0) - mean[c]! * scale[c]!;
    }
    return { scale, shift };
  };

  for (const l of layers) {
    if (folded.has(l.name)) continue;
    const out = l.name;
    switch (l.class_name) {
      case 'InputLayer': {
        const shape = l.config.batch_input_shape;
        if (
          !Array.isArray(shape) ||
          shape.length !== 4 ||
          shape.slice(1).some((d) => typeof d !== 'number')
        ) {
          throw new ExportError(`onnx export: input ${l.name}: expected a static [batch, H, W, C] shape`);
        }
        const [, h, w, c] = shape as [unknown, number, number, number];
        if (inputLayout === 'NCHW') {
          tensorOf.set(l.name, ONNX_INPUT_NAME);
        } else {
          nodes.push({
            opType: 'Transpose',
            name: 'input/nhwc_to_nchw',
            inputs: [ONNX_INPUT_NAME],
            outputs: ['input/nchw'],
            attributes: [ints('perm', [0, 3, 1, 2])],
          });
          tensorOf.set(l.name, 'input/nchw');
        }
        graphInput = inputLayout === 'NCHW' ? ['batch', c, h, w] : ['batch', h, w, c];
        break;
      }
      case 'ZeroPadding2D': {
        checkChannelsLast(l);
        const p = l.config.padding as [[number, number], [number, number]];
        const pads = BigInt64Array.from([0, 0, p[0][0], p[1][0], 0, 0, p[0][1], p[1][1]].map(BigInt));
        initializers.push({ name: `${l.name}/pads`, dims: [8], data: pads });
        nodes.push({
          opType: 'Pad',
          name: l.name,
          inputs: [...inputOf(l), `${l.name}/pads`],
          outputs: [out],
        });
        tensorOf.set(l.name, out);
        break;
      }
      case 'Conv2D': {
        checkChannelsLast(l);
        if (typeof l.config.groups === 'number' && l.config.groups !== 1) {
          throw new ExportError(`onnx export: layer ${l.name}: grouped convolution not supported`);
        }
        const w = weightsOf(l.name);
        const kernel = w.get('kernel');
        if (kernel === undefined) throw new ExportError(`onnx export: layer ${l.name}: no kernel`);
        const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
        // tfjs kernel [kh, kw, in, out] -> ONNX [out, in, kh, kw]
        const weight = new Float32Array(kernel.data.length);
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            for (let i = 0; i < cin; i++)
              for (let o = 0; o < cout; o++) {
                weight[((o * cin + i) * kh + y) * kw + x] = kernel.data[((y * kw + x) * cin + i) * cout + o]!;
              }
        let bias: Float32Array | undefined = w.get('bias')?.data;
        let outName = out;
        const bnReader = readers.get(l.name);
        const next = bnReader?.length === 1 ? byName.get(bnReader[0]!) : undefined;
        if (
          next?.class_name === 'BatchNormalization' &&
          str(l.config, 'activation', 'linear') === 'linear' &&
          l.name !== outputLayer
        ) {
          // Exact fold: BN(conv(x)) = conv'(x) with W'[o] = W[o] * scale[o], b'[o] = b[o] * scale[o] + shift[o].
          const { scale, shift } = bnAffine(next);
          const per = cin * kh * kw;
          for (let o = 0; o < cout; o++)
            for (let k = 0; k < per; k++) weight[o * per + k] = weight[o * per + k]! * scale[o]!;
          const foldedBias = new Float32Array(cout);
          for (let o = 0; o < cout; o++) foldedBias[o] = (bias?.[o] ?? 0) * scale[o]! + shift[o]!;
          bias = foldedBias;
          folded.add(next.name);
          outName = next.name;
          tensorOf.set(next.name, outName);
        }
        const strides = numbers(l.config, 'strides', l.name);
        const dilations = numbers(l.config, 'dilation_rate', l.name);
        const kernelShape = [kh, kw];
        const pads =
          str(l.config, 'padding', 'valid') === 'same'
            ? samePads(l.name, kernelShape, strides, dilations)
            : [0, 0, 0, 0];
        initializers.push({ name: `${l.name}/W`, dims: [cout, cin, kh, kw], data: weight });
        const inputs = [...inputOf(l), `${l.name}/W`];
        if (bias !== undefined) {
          initializers.push({ name: `${l.name}/B`, dims: [cout], data: bias });
          inputs.push(`${l.name}/B`);
        }
        const pre =
          outName === out && str(l.config, 'activation', 'linear') !== 'linear' ? `${out}/preact` : outName;
        nodes.push({
          opType: 'Conv',
          name: l.name,
          inputs,
          outputs: [pre],
          attributes: [
            ints('kernel_shape', kernelShape),
            ints('strides', strides),
            ints('dilations', dilations),
            ints('pads', pads),
            { name: 'group', kind: 'int', value: 1 },
          ],
        });
        tensorOf.set(l.name, activation(l, outName, pre));
        break;
      }
      case 'BatchNormalization': {
        const { scale, shift } = bnAffine(l);
        const dims = rankOfInput(l.name) === 4 ? [scale.length, 1, 1] : [scale.length];
        initializers.push({ name: `${l.name}/scale`, dims, data: Float32Array.from(scale) });
        initializers.push({ name: `${l.name}/shift`, dims, data: Float32Array.from(shift) });
        const [x] = inputOf(l);
        nodes.push({
          opType: 'Mul',
          name: `${l.name}/mul`,
          inputs: [x!, `${l.name}/scale`],
          outputs: [`${out}/scaled`],
        });
        nodes.push({
          opType: 'Add',
          name: `${l.name}/add`,
          inputs: [`${out}/scaled`, `${l.name}/shift`],
          outputs: [out],
        });
        tensorOf.set(l.name, out);
        break;
      }
      case 'Activation': {
        tensorOf.set(l.name, activation(l, out, inputOf(l)[0]!));
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        checkChannelsLast(l);
        const kernel = numbers(l.config, 'pool_size', l.name);
        const strides = l.config.strides === null ? kernel : numbers(l.config, 'strides', l.name);
        const pads =
          str(l.config, 'padding', 'valid') === 'same'
            ? samePads(l.name, kernel, strides, [1, 1])
            : [0, 0, 0, 0];
        // ONNX AveragePool excludes padding by default (count_include_pad=0), as TensorFlow does;
        // MaxPool pads with -inf, as TensorFlow does.
        nodes.push({
          opType: l.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool',
          name: l.name,
          inputs: inputOf(l),
          outputs: [out],
          attributes: [ints('kernel_shape', kernel), ints('strides', strides), ints('pads', pads)],
        });
        tensorOf.set(l.name, out);
        break;
      }
      case 'Concatenate': {
        const rank = rankOfInput(l.name);
        const raw = typeof l.config.axis === 'number' ? l.config.axis : -1;
        const axis = raw < 0 ? raw + rank : raw;
        // NHWC axis -> NCHW axis (N->0, H->2, W->3, C->1); rank 2 tensors have no layout change.
        const mapped = rank === 4 ? [0, 2, 3, 1][axis] : axis;
        if (mapped === undefined || (rank !== 4 && rank !== 2)) {
          throw new ExportError(`onnx export: layer ${l.name}: concat on rank ${rank} not supported`);
        }
        nodes.push({
          opType: 'Concat',
          name: l.name,
          inputs: inputOf(l),
          outputs: [out],
          attributes: [{ name: 'axis', kind: 'int', value: mapped }],
        });
        tensorOf.set(l.name, out);
        break;
      }
      case 'GlobalAveragePooling2D': {
        checkChannelsLast(l);
        if (l.config.keepdims === true)
          throw new ExportError(`onnx export: layer ${l.name}: keepdims not supported`);
        nodes.push({
          opType: 'GlobalAveragePool',
          name: l.name,
          inputs: inputOf(l),
          outputs: [`${out}/nc11`],
        });
        nodes.push({
          opType: 'Flatten',
          name: `${l.name}/flatten`,
          inputs: [`${out}/nc11`],
          outputs: [out],
          attributes: [{ name: 'axis', kind: 'int', value: 1 }],
        });
        tensorOf.set(l.name, out);
        break;
      }
      case 'Dense': {
        if (rankOfInput(l.name) !== 2)
          throw new ExportError(`onnx export: layer ${l.name}: Dense on rank > 2`);
        const w = weightsOf(l.name);
        const kernel = w.get('kernel');
        if (kernel === undefined) throw new ExportError(`onnx export: layer ${l.name}: no kernel`);
        initializers.push({ name: `${l.name}/W`, dims: kernel.shape, data: kernel.data });
        const inputs = [...inputOf(l), `${l.name}/W`];
        const bias = w.get('bias');
        if (bias !== undefined) {
          initializers.push({ name: `${l.name}/B`, dims: bias.shape, data: bias.data });
          inputs.push(`${l.name}/B`);
        }
        const pre = str(l.config, 'activation', 'linear') === 'linear' ? out : `${out}/preact`;
        nodes.push({ opType: 'Gemm', name: l.name, inputs, outputs: [pre] });
        tensorOf.set(l.name, activation(l, out, pre));
        break;
      }
      case 'Dropout':
        // Identity at inference: no node, the output is the input tensor.
        tensorOf.set(l.name, inputOf(l)[0]!);
        appliedActivation.set(l.name, appliedActivation.get(l.inbound_nodes[0]?.[0]?.[0] ?? '') ?? 'none');
        break;
      default:
        throw new ExportError(`onnx export: layer ${l.name}: ${l.class_name} is not supported`);
    }
  }

  const finalActivation = appliedActivation.get(outputLayer) ?? 'none';
  const last = tensorOf.get(outputLayer);
  if (last === undefined || graphInput === undefined)
    throw new ExportError('onnx export: graph has no input or output');
  const outShape = model.outputs[0]!.shape;
  if (outShape.length !== 2 || typeof outShape[1] !== 'number') {
    throw new ExportError(`onnx export: output must be [batch, labels], got [${outShape.join(',')}]`);
  }
  // A fixed output name, whatever the last layer is called.
  nodes.push({ opType: 'Identity', name: 'output', inputs: [last], outputs: [ONNX_OUTPUT_NAME] });

  const bytes = encodeOnnxModel({
    producerName: 'cxr-pipeline @cxr/model',
    producerVersion: `tfjs-layers ${tfjsVersion.tfjs}`,
    docString: `Exported from tfjs-layers model ${model.name}; input ${inputLayout}`,
    metadata: {
      'cxr.input_layout': inputLayout,
      'cxr.final_activation': finalActivation,
      'cxr.source_parameter_count': String(model.countParams()),
      ...options.metadata,
    },
    graph: {
      name: model.name,
      nodes,
      initializers,
      inputs: [{ name: ONNX_INPUT_NAME, shape: graphInput }],
      outputs: [{ name: ONNX_OUTPUT_NAME, shape: ['batch', outShape[1]] }],
    },
  });
  return { bytes, inputLayout, foldedBatchNorms: [...folded], finalActivation };
}
