import { encodeOnnxModel, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from '../onnx/proto.js';

// Test support (not exported from the package): tiny ONNX classifiers that onnxruntime runs in
// milliseconds, shaped like the graphs exporters write.

export interface TinyClassifierOptions {
  readonly channels?: number;
  /** Height and width; 'dynamic' declares them symbolic. Default 8. */
  readonly size?: number | 'dynamic';
  /** Override the declared height (non-square inputs). */
  readonly height?: number;
  readonly layout?: 'NCHW' | 'NHWC';
  /** Batch dimension as declared; default 'batch'. */
  readonly batch?: number | string;
  readonly classes?: number;
  /**
   * What the graph ends with: a sigmoid or softmax on the logits, raw logits, or a softmax over
   * the last axis of a [batch, classes, 1, 1] tensor (not the classes: every score is 1).
   */
  readonly head?: 'sigmoid' | 'softmax' | 'none' | 'softmax-last-of-4d';
  /** Shape-only ops after the head, in order (e.g. ['Identity']). */
  readonly after?: readonly ('Identity' | 'Flatten')[];
  /** Declared output width, when it should disagree with the real one. */
  readonly declaredClasses?: number;
  /** A second graph input. */
  readonly extraInput?: boolean;
  /** Softmax axis attribute for head 'softmax'; default 1. */
  readonly softmaxAxis?: number;
  /** Declared input shape, replacing the one the other options make. */
  readonly inputShape?: readonly (number | string)[];
}

/** The classes x channels weights of the tiny head: small, distinct, deterministic. */
function headWeights(classes: number, channels: number): Float32Array {
  return Float32Array.from({ length: classes * channels }, (_, i) => ((i % 7) - 3) * 0.25 + 0.1 * (i % 3));
}

/**
 * Global average pool -> 1x1 head -> activation: an image classifier in the smallest graph
 * onnxruntime accepts, with the input and output names PyTorch exports use.
 */
export function tinyClassifier(options: TinyClassifierOptions = {}): Uint8Array {
  const channels = options.channels ?? 1;
  const classes = options.classes ?? 3;
  const layout = options.layout ?? 'NCHW';
  const side = options.size ?? 8;
  const width: number | string = side === 'dynamic' ? 'width' : side;
  const height: number | string = side === 'dynamic' ? 'height' : (options.height ?? side);
  const batch = options.batch ?? 'batch';
  const head = options.head ?? 'sigmoid';
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  let x = 'input';
  if (layout === 'NHWC') {
    nodes.push({
      opType: 'Transpose',
      name: 'to_nchw',
      inputs: [x],
      outputs: ['nchw'],
      attributes: [{ name: 'perm', kind: 'ints', value: [0, 3, 1, 2] }],
    });
    x = 'nchw';
  }
  nodes.push({ opType: 'GlobalAveragePool', name: 'pool', inputs: [x], outputs: ['pooled'] });
  const weights = headWeights(classes, channels);
  let scores: string;
  if (head === 'softmax-last-of-4d') {
    initializers.push({ name: 'head.weight', dims: [classes, channels, 1, 1], data: weights });
    nodes.push({ opType: 'Conv', name: 'head', inputs: ['pooled', 'head.weight'], outputs: ['logits4d'] });
    nodes.push({
      opType: 'Softmax',
      name: 'softmax',
      inputs: ['logits4d'],
      outputs: ['probs4d'],
      attributes: [{ name: 'axis', kind: 'int', value: -1 }],
    });
    nodes.push({
      opType: 'Flatten',
      name: 'flatten',
      inputs: ['probs4d'],
      outputs: ['probs'],
      attributes: [{ name: 'axis', kind: 'int', value: 1 }],
    });
    scores = 'probs';
  } else {
    initializers.push({ name: 'head.weight', dims: [classes, channels], data: weights });
    initializers.push({
      name: 'head.bias',
      dims: [classes],
      data: Float32Array.from({ length: classes }, (_, k) => 0.2 * k - 0.3),
    });
    nodes.push({
      opType: 'Flatten',
      name: 'flatten',
      inputs: ['pooled'],
      outputs: ['features'],
      attributes: [{ name: 'axis', kind: 'int', value: 1 }],
    });
    nodes.push({
      opType: 'Gemm',
      name: 'classifier',
      inputs: ['features', 'head.weight', 'head.bias'],
      outputs: ['logits'],
      attributes: [{ name: 'transB', kind: 'int', value: 1 }],
    });
    scores = 'logits';
    if (head === 'sigmoid' || head === 'softmax') {
      nodes.push({
        opType: head === 'sigmoid' ? 'Sigmoid' : 'Softmax',
        name: head,
        inputs: ['logits'],
        outputs: ['probs'],
        ...(head === 'softmax'
          ? { attributes: [{ name: 'axis', kind: 'int' as const, value: options.softmaxAxis ?? 1 }] }
          : {}),
      });
      scores = 'probs';
    }
  }
  for (const [i, op] of (options.after ?? []).entries()) {
    const out = `after_${i}`;
    nodes.push({
      opType: op,
      name: `${op.toLowerCase()}_${i}`,
      inputs: [scores],
      outputs: [out],
      ...(op === 'Flatten' ? { attributes: [{ name: 'axis', kind: 'int' as const, value: 1 }] } : {}),
    });
    scores = out;
  }
  nodes.push({ opType: 'Identity', name: 'output', inputs: [scores], outputs: ['scores'] });
  const inputShape = layout === 'NCHW' ? [batch, channels, height, width] : [batch, height, width, channels];
  const inputs: OnnxValueInfo[] = [{ name: 'input', shape: options.inputShape ?? inputShape }];
  if (options.extraInput === true) inputs.push({ name: 'mask', shape: [batch, 1] });
  return encodeOnnxModel({
    producerName: 'pytorch',
    producerVersion: '1.13.1',
    graph: {
      name: 'tiny',
      nodes,
      initializers,
      inputs,
      outputs: [{ name: 'scores', shape: [batch, options.declaredClasses ?? classes] }],
    },
  });
}
