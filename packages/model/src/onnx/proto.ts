import { ProtoWriter, readFields, readRepeatedVarints, type ProtoField } from './protobuf.js';

/**
 * The subset of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) the exporter
 * writes: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto.
 * Field numbers below are those of onnx.proto; they never change between ONNX releases.
 */

/** IR version 8 = ONNX 1.10+, understood by every onnxruntime we ship. */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET_VERSION = 17;

// TensorProto.DataType
const DATA_TYPE = { float32: 1, int64: 7 } as const;
export type OnnxDataType = keyof typeof DATA_TYPE;

// AttributeProto.AttributeType
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, ints: 7 } as const;

export interface OnnxTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array;
}

export type OnnxAttribute =
  | { readonly name: string; readonly kind: 'int'; readonly value: number }
  | { readonly name: string; readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly name: string; readonly kind: 'float'; readonly value: number }
  | { readonly name: string; readonly kind: 'string'; readonly value: string };

export interface OnnxNode {
  readonly opType: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: readonly OnnxAttribute[];
}

/** A float32 graph input/output; string dims are symbolic (e.g. "batch"). */
export interface OnnxValueInfo {
  readonly name: string;
  readonly shape: readonly (number | string)[];
}

export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxTensor[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  readonly graph: OnnxGraph;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// raw_data is little-endian by the ONNX spec whatever the host.
function rawData(data: Float32Array | BigInt64Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) {
    data.forEach((v, i) => {
      view.setFloat32(i * 4, v, true);
    });
  } else {
    data.forEach((v, i) => {
      view.setBigInt64(i * 8, v, true);
    });
  }
  return out;
}

function encodeTensor(t: OnnxTensor): ProtoWriter {
  const expected = t.dims.reduce((a, b) => a * b, 1);
  if (expected !== t.data.length) {
    throw new Error(
      `onnx: initializer ${t.name}: dims [${t.dims.join(',')}] need ${expected} values, got ${t.data.length}`,
    );
  }
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.data instanceof Float32Array ? DATA_TYPE.float32 : DATA_TYPE.int64);
  w.string(8, t.name);
  w.bytes(9, rawData(t.data));
  return w;
}

function encodeAttribute(a: OnnxAttribute): ProtoWriter {
  const w = new ProtoWriter().string(1, a.name);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value).int(20, ATTRIBUTE_TYPE.float);
      break;
    case 'int':
      w.int(3, a.value).int(20, ATTRIBUTE_TYPE.int);
      break;
    case 'string':
      w.string(4, a.value).int(20, ATTRIBUTE_TYPE.string);
      break;
    case 'ints':
      for (const v of a.value) w.int(8, v);
      w.int(20, ATTRIBUTE_TYPE.ints);
      break;
  }
  return w;
}

function encodeNode(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name).string(4, n.opType);
  for (const a of n.attributes ?? []) w.message(5, encodeAttribute(a));
  return w;
}

function encodeValueInfo(v: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  }
  const tensorType = new ProtoWriter().int(1, DATA_TYPE.float32).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

/** Serializes a model to ONNX protobuf bytes (IR version 8, default domain at opset 17). */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const g = model.graph;
  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.message(1, encodeNode(n));
  graph.string(2, g.name);
  for (const t of g.initializers) graph.message(5, encodeTensor(t));
  for (const v of g.inputs) graph.message(11, encodeValueInfo(v));
  for (const v of g.outputs) graph.message(12, encodeValueInfo(v));

  const w = new ProtoWriter()
    .int(1, ONNX_IR_VERSION)
    .string(2, model.producerName)
    .string(3, model.producerVersion);
  if (model.docString !== undefined) w.string(6, model.docString);
  w.message(7, graph);
  w.message(8, new ProtoWriter().string(1, '').int(2, ONNX_OPSET_VERSION));
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.message(14, new ProtoWriter().string(1, key).string(2, value));
  }
  return w.finish();
}

/** TensorProto.DataType of float32 tensors (the only element type the pipeline feeds or reads). */
export const ONNX_FLOAT32 = DATA_TYPE.float32;

/**
 * A graph input/output as stored. `shape` is empty when the file declares no shape; a dim that
 * has neither a value nor a name (unknown) reads as ''. `elemType` is the TensorProto.DataType,
 * 0 when the value is not a tensor or the file does not say.
 */
export interface OnnxValueInfoSummary extends OnnxValueInfo {
  readonly elemType: number;
  /** False when the file declares no shape at all (rank unknown). */
  readonly hasShape: boolean;
}

/** A graph node as stored: enough to follow the data flow (integer attributes only). */
export interface OnnxNodeSummary {
  readonly opType: string;
  /** '' for the default (ai.onnx) domain. */
  readonly domain: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** INT attributes by name (e.g. Softmax's `axis`); other attribute types are not decoded. */
  readonly intAttributes: Readonly<Record<string, number>>;
}

/** What `readOnnxSummary` reports about a model file, without loading a runtime. */
export interface OnnxSummary {
  readonly irVersion: number;
  readonly opsetVersion: number | undefined;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly initializers: readonly { name: string; dataType: number; dims: readonly number[] }[];
  readonly opTypes: readonly string[];
  /** In graph order (ONNX requires topological order). */
  readonly nodes: readonly OnnxNodeSummary[];
  /**
   * Graph inputs as declared. Files from IR < 4 exporters also list every initializer here; see
   * `graphInputs` for the inputs a caller must feed.
   */
  readonly inputs: readonly OnnxValueInfoSummary[];
  readonly outputs: readonly OnnxValueInfoSummary[];
  readonly metadata: Readonly<Record<string, string>>;
}

const textDecoder = new TextDecoder();

function str(fields: readonly ProtoField[], field: number): string {
  const f = fields.find((x) => x.field === field && x.bytes !== undefined);
  return f?.bytes === undefined ? '' : textDecoder.decode(f.bytes);
}

function nested(fields: readonly ProtoField[], field: number): ProtoField[][] {
  return fields.filter((f) => f.field === field && f.bytes !== undefined).map((f) => readFields(f.bytes!));
}

function varintOf(fields: readonly ProtoField[], field: number): bigint | undefined {
  return fields.find((f) => f.field === field && f.varint !== undefined)?.varint;
}

// ValueInfoProto { 1 name, 2 TypeProto { 1 Tensor { 1 elem_type, 2 TensorShapeProto { 1 Dimension
// { 1 dim_value | 2 dim_param } } } } }
function decodeValueInfo(fields: readonly ProtoField[]): OnnxValueInfoSummary {
  const tensorType = nested(nested(fields, 2)[0] ?? [], 1)[0] ?? [];
  const shape = nested(tensorType, 2)[0];
  const dims = nested(shape ?? [], 1).map((d) => {
    const value = varintOf(d, 1);
    // dim_value is an int64: a negative one (never valid) arrives as its two's complement.
    return value !== undefined ? Number(BigInt.asIntN(64, value)) : str(d, 2);
  });
  return {
    name: str(fields, 1),
    shape: dims,
    elemType: Number(varintOf(tensorType, 1) ?? 0n),
    hasShape: shape !== undefined,
  };
}

// NodeProto { 1 input*, 2 output*, 3 name, 4 op_type, 5 AttributeProto*, 7 domain };
// AttributeProto { 1 name, 3 i, 20 type }.
function decodeNode(fields: readonly ProtoField[]): OnnxNodeSummary {
  const strings = (field: number): string[] =>
    fields.filter((f) => f.field === field && f.bytes !== undefined).map((f) => textDecoder.decode(f.bytes));
  const intAttributes: Record<string, number> = {};
  for (const attribute of nested(fields, 5)) {
    const value = varintOf(attribute, 3);
    const type = varintOf(attribute, 20);
    if (value !== undefined && (type === undefined || Number(type) === ATTRIBUTE_TYPE.int)) {
      intAttributes[str(attribute, 1)] = Number(BigInt.asIntN(64, value));
    }
  }
  return {
    opType: str(fields, 4),
    domain: str(fields, 7),
    name: str(fields, 3),
    inputs: strings(1),
    outputs: strings(2),
    intAttributes,
  };
}

/** Reads an ONNX file's structure (initializer shapes, op types, I/O, metadata); no weights decoded. */
export function readOnnxSummary(bytes: Uint8Array): OnnxSummary {
  const model = readFields(bytes);
  const graph = nested(model, 7)[0];
  if (graph === undefined) throw new Error('onnx: no graph in ModelProto');
  const opset = nested(model, 8).find((o) => str(o, 1) === '');
  const opsetVersion = opset?.find((f) => f.field === 2)?.varint;
  const metadata: Record<string, string> = {};
  for (const entry of nested(model, 14)) metadata[str(entry, 1)] = str(entry, 2);
  const nodes = nested(graph, 1).map(decodeNode);
  return {
    irVersion: Number(model.find((f) => f.field === 1)?.varint ?? 0n),
    opsetVersion: opsetVersion === undefined ? undefined : Number(opsetVersion),
    producerName: str(model, 2),
    producerVersion: str(model, 3),
    initializers: nested(graph, 5).map((t) => ({
      name: str(t, 8),
      dataType: Number(t.find((f) => f.field === 2)?.varint ?? 0n),
      dims: readRepeatedVarints(t, 1).map(Number),
    })),
    opTypes: nodes.map((n) => n.opType),
    nodes,
    inputs: nested(graph, 11).map(decodeValueInfo),
    outputs: nested(graph, 12).map(decodeValueInfo),
    metadata,
  };
}

/** The inputs a caller feeds: declared graph inputs that are not initializers (IR < 4 lists both). */
export function graphInputs(summary: OnnxSummary): OnnxValueInfoSummary[] {
  const initializers = new Set(summary.initializers.map((t) => t.name));
  return summary.inputs.filter((input) => !initializers.has(input.name));
}

/** Element count of the float32 initializers: the parameter count of an exported model. */
export function countOnnxParameters(summary: OnnxSummary): number {
  return summary.initializers
    .filter((t) => t.dataType === DATA_TYPE.float32)
    .reduce((sum, t) => sum + t.dims.reduce((a, b) => a * b, 1), 0);
}
