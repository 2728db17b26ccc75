/**
 * Minimal protocol buffers wire format (https://protobuf.dev/programming-guides/encoding/): just
 * what the ONNX writer and the bundle inspector need, so the model package carries no protobuf
 * dependency. Wire types: 0 varint, 2 length-delimited, 5 fixed32 (1 fixed64 is only skipped).
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const textEncoder = new TextEncoder();

/** Appends fields to a growing buffer; nested messages are written as finished byte arrays. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private pending: number[] = [];
  private length = 0;

  private flushPending(): void {
    if (this.pending.length > 0) {
      this.chunks.push(Uint8Array.from(this.pending));
      this.pending = [];
    }
  }

  private rawVarint(value: bigint): void {
    // int64 fields encode negative values as their 64-bit two's complement (10 bytes).
    let v = BigInt.asUintN(64, value);
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      this.pending.push(byte);
      this.length += 1;
    } while (v !== 0n);
  }

  private tag(field: number, wire: number): void {
    this.rawVarint(BigInt((field << 3) | wire));
  }

  /** int32/int64/enum/bool field (varint). */
  int(field: number, value: number | bigint): this {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new RangeError(`protobuf: field ${field}: ${value} is not a safe integer`);
    }
    this.tag(field, WIRE_VARINT);
    this.rawVarint(BigInt(value));
    return this;
  }

  /** float field (fixed32, little-endian IEEE 754). */
  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    for (const byte of b) this.pending.push(byte);
    this.length += 4;
    return this;
  }

  /** bytes field. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.rawVarint(BigInt(value.byteLength));
    this.flushPending();
    this.chunks.push(value);
    this.length += value.byteLength;
    return this;
  }

  /** string field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  /** Embedded message field. */
  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  /** Concatenates everything written so far. */
  finish(): Uint8Array {
    this.flushPending();
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return out;
  }
}

/** One decoded field: varints as bigint, fixed32 as its raw 4 bytes, length-delimited as bytes. */
export interface ProtoField {
  readonly field: number;
  readonly wire: number;
  readonly varint?: bigint;
  readonly bytes?: Uint8Array;
}

/** Splits a message into its fields (one level; decode nested messages by calling again). */
export function readFields(buf: Uint8Array): ProtoField[] {
  const fields: ProtoField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('protobuf: truncated varint');
      const byte = buf[pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('protobuf: varint longer than 10 bytes');
    }
  };
  const take = (n: number): Uint8Array => {
    if (pos + n > buf.length) throw new Error('protobuf: truncated field');
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    switch (wire) {
      case WIRE_VARINT:
        fields.push({ field, wire, varint: varint() });
        break;
      case WIRE_FIXED64:
        fields.push({ field, wire, bytes: take(8) });
        break;
      case WIRE_LENGTH_DELIMITED:
        fields.push({ field, wire, bytes: take(Number(varint())) });
        break;
      case WIRE_FIXED32:
        fields.push({ field, wire, bytes: take(4) });
        break;
      default:
        throw new Error(`protobuf: unsupported wire type ${wire} (field ${field})`);
    }
  }
  return fields;
}

/** Values of a repeated integer field, whether written packed or one tag per value. */
export function readRepeatedVarints(fields: readonly ProtoField[], field: number): bigint[] {
  const out: bigint[] = [];
  for (const f of fields) {
    if (f.field !== field) continue;
    if (f.varint !== undefined) out.push(f.varint);
    else if (f.bytes !== undefined && f.wire === WIRE_LENGTH_DELIMITED) {
      const packed = f.bytes;
      let pos = 0;
      while (pos < packed.length) {
        let result = 0n;
        let shift = 0n;
        for (;;) {
          const byte = packed[pos++];
          if (byte === undefined) throw new Error('protobuf: truncated packed varint');
          result |= BigInt(byte & 0x7f) << shift;
          if ((byte & 0x80) === 0) break;
          shift += 7n;
        }
        out.push(result);
      }
    }
  }
  return out;
}
