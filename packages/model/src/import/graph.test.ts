import { describe, expect, it } from 'vitest';
import { readOnnxSummary, type OnnxSummary } from '../onnx/proto.js';
import { ModelImportError, type ModelImportErrorCode } from './errors.js';
import { architectureDoubt, describeClassifierGraph, finalActivation } from './graph.js';
import { tinyClassifier, type TinyClassifierOptions } from './testing.js';

const FILE = 'model.onnx';

function summaryOf(options: TinyClassifierOptions = {}): OnnxSummary {
  return readOnnxSummary(tinyClassifier(options));
}

function refusal(run: () => unknown): ModelImportError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelImportError);
    return error as ModelImportError;
  }
  return expect.fail('expected a ModelImportError');
}

function expectRefused(code: ModelImportErrorCode, message: string, run: () => unknown): void {
  const error = refusal(run);
  expect({ code: error.code, message: error.message }).toEqual({ code, message });
}

describe('readOnnxSummary: what the importer needs', () => {
  it('reads element types, declared shapes, nodes with their edges and int attributes, producer', () => {
    const summary = summaryOf({ head: 'softmax', softmaxAxis: -1, channels: 3 });
    expect(summary.producerName).toBe('pytorch');
    expect(summary.producerVersion).toBe('1.13.1');
    expect(summary.inputs).toEqual([
      { name: 'input', shape: ['batch', 3, 8, 8], elemType: 1, hasShape: true },
    ]);
    expect(summary.outputs).toEqual([{ name: 'scores', shape: ['batch', 3], elemType: 1, hasShape: true }]);
    expect(summary.nodes.map((n) => n.opType)).toEqual([
      'GlobalAveragePool',
      'Flatten',
      'Gemm',
      'Softmax',
      'Identity',
    ]);
    expect(summary.nodes[3]).toEqual({
      opType: 'Softmax',
      domain: '',
      name: 'softmax',
      inputs: ['logits'],
      outputs: ['probs'],
      intAttributes: { axis: -1 },
    });
    expect(summary.nodes[2]?.inputs).toEqual(['features', 'head.weight', 'head.bias']);
  });
});

describe('describeClassifierGraph', () => {
  it('reads a PyTorch-style NCHW graph: input, size, output width, sigmoid behind Identity', () => {
    const graph = describeClassifierGraph(summaryOf({ size: 224, classes: 18 }), { file: FILE });
    expect(graph).toMatchObject({
      inputName: 'input',
      inputShape: ['batch', 1, 224, 224],
      layout: 'NCHW',
      channels: 1,
      size: 224,
      sizeFrom: 'graph',
      batch: 'dynamic',
      outputName: 'scores',
      outputs: 18,
      activation: 'sigmoid',
      activationNode: 'Sigmoid "sigmoid"',
      convolutions: 0,
    });
  });

  it('reads NHWC from a channels-last input and a softmax over the classes', () => {
    const graph = describeClassifierGraph(summaryOf({ layout: 'NHWC', channels: 3, head: 'softmax' }), {
      file: FILE,
    });
    expect(graph).toMatchObject({ layout: 'NHWC', channels: 3, size: 8, activation: 'softmax' });
  });

  it('finds the activation behind Identity, Flatten and Reshape-like ops, and none after a Gemm', () => {
    const behind = summaryOf({ after: ['Flatten', 'Identity', 'Flatten'] });
    expect(finalActivation(behind.nodes, 'scores').activation).toBe('sigmoid');
    expect(describeClassifierGraph(summaryOf({ head: 'none' }), { file: FILE }).activation).toBe('none');
  });

  it('treats a softmax over another axis than the classes as raw scores, with a warning', () => {
    const graph = describeClassifierGraph(summaryOf({ head: 'softmax', softmaxAxis: 0 }), { file: FILE });
    expect(graph.activation).toBe('none');
    expect(graph.warnings).toContain(
      'the graph ends with a Softmax over axis 0, not over the classes: treated as raw scores',
    );
  });

  it('doubts the architecture when the graph does not have the 120 convolutions of DenseNet121', () => {
    const graph = describeClassifierGraph(summaryOf(), { file: FILE });
    expect(architectureDoubt(graph)).toBe(
      'the graph has 0 Conv nodes where DenseNet121 has 120: manifest.architecture says densenet121 all the same',
    );
    expect(architectureDoubt({ convolutions: 120 })).toBeUndefined();
  });

  it('takes --size for dynamic height and width, and refuses without it', () => {
    const summary = summaryOf({ size: 'dynamic' });
    expect(describeClassifierGraph(summary, { file: FILE, size: 320 })).toMatchObject({
      size: 320,
      sizeFrom: 'option',
    });
    expectRefused(
      'size_required',
      'model.onnx: input "input" [batch,1,height,width] has dynamic height and width: give the size the model was trained at (--size N)',
      () => describeClassifierGraph(summary, { file: FILE }),
    );
  });

  it('refuses a --size that disagrees with fixed height and width', () => {
    expectRefused('size_conflict', 'model.onnx: input "input" [batch,1,8,8] is fixed at 8 x 8, not 16', () =>
      describeClassifierGraph(summaryOf(), { file: FILE, size: 16 }),
    );
    expect(describeClassifierGraph(summaryOf(), { file: FILE, size: 8 }).sizeFrom).toBe('graph');
  });

  it('accepts a fixed batch of 1 with a warning and refuses a larger fixed batch', () => {
    const one = describeClassifierGraph(summaryOf({ batch: 1 }), { file: FILE });
    expect(one.batch).toBe(1);
    expect(one.warnings[0]).toContain('fixed batch of 1: run it with CXR_MAX_BATCH=1');
    expectRefused(
      'unsupported_graph',
      'model.onnx: input "input" [4,1,8,8] has a fixed batch of 4: export it with a dynamic batch axis (or batch 1)',
      () => describeClassifierGraph(summaryOf({ batch: 4 }), { file: FILE }),
    );
  });

  it.each<[string, TinyClassifierOptions, string]>([
    [
      'several inputs',
      { extraInput: true },
      'model.onnx: the graph has 2 inputs ("input", "mask"), expected one image input',
    ],
    [
      'rank 3',
      { inputShape: ['batch', 8, 8] },
      'model.onnx: input "input" [batch,8,8] has rank 3, expected 4 (NCHW or NHWC images)',
    ],
    [
      'two channels',
      { channels: 2 },
      'model.onnx: input "input" [batch,2,8,8]: no channel dimension of 1 or 3 after the batch (NCHW) or last (NHWC)',
    ],
    [
      'a dynamic channel count',
      { inputShape: ['batch', 'channels', 8, 8] },
      'model.onnx: input "input" [batch,channels,8,8]: no channel dimension of 1 or 3 after the batch (NCHW) or last (NHWC)',
    ],
    [
      'a layout it cannot tell',
      { inputShape: ['batch', 3, 8, 3] },
      'model.onnx: input "input" [batch,3,8,3]: cannot tell NCHW from NHWC (both ends could be channels)',
    ],
    [
      'a non-square input',
      { height: 6 },
      'model.onnx: input "input" [batch,1,6,8] is not square (the pipeline feeds size x size images)',
    ],
  ])('refuses %s', (_, options, message) => {
    expectRefused('unsupported_graph', message, () =>
      describeClassifierGraph(summaryOf(options), { file: FILE }),
    );
  });

  it('refuses several outputs, an output of another rank, and non-float tensors', () => {
    const base = summaryOf();
    const output = base.outputs[0]!;
    expectRefused(
      'unsupported_graph',
      'model.onnx: the graph has 2 outputs, expected one (the class scores)',
      () =>
        describeClassifierGraph(
          { ...base, outputs: [output, { ...output, name: 'features' }] },
          { file: FILE },
        ),
    );
    expectRefused(
      'unsupported_graph',
      'model.onnx: output "scores" [batch,3,1,1] is not [batch, classes] with a fixed number of classes',
      () =>
        describeClassifierGraph(
          { ...base, outputs: [{ ...output, shape: ['batch', 3, 1, 1] }] },
          { file: FILE },
        ),
    );
    expectRefused(
      'unsupported_graph',
      'model.onnx: output "scores" [batch,classes] is not [batch, classes] with a fixed number of classes',
      () =>
        describeClassifierGraph(
          { ...base, outputs: [{ ...output, shape: ['batch', 'classes'] }] },
          { file: FILE },
        ),
    );
    expectRefused('unsupported_graph', 'model.onnx: input "input" is uint8, expected float32', () =>
      describeClassifierGraph({ ...base, inputs: [{ ...base.inputs[0]!, elemType: 2 }] }, { file: FILE }),
    );
    expectRefused(
      'unsupported_graph',
      'model.onnx: input "input" declares no shape (re-export with shapes, e.g. torch.onnx.export)',
      () =>
        describeClassifierGraph(
          { ...base, inputs: [{ ...base.inputs[0]!, shape: [], hasShape: false }] },
          { file: FILE },
        ),
    );
  });

  it('ignores initializers listed as graph inputs (IR < 4 exporters)', () => {
    const base = summaryOf();
    const listed = [...base.inputs, { name: 'head.weight', shape: [3, 1], elemType: 1, hasShape: true }];
    expect(describeClassifierGraph({ ...base, inputs: listed }, { file: FILE }).inputName).toBe('input');
  });
});
