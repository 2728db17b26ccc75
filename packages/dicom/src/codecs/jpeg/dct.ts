// JPEG DCT-based sequential Huffman decoding (ITU-T T.81 Annex F; SOF0 baseline and SOF1
// extended, 8- and 12-bit): DICOM 1.2.840.10008.1.2.4.51 (and .50 as a fallback).
//
// To match dcmtk (which decodes with its bundled IJG libjpeg 6b), every step follows IJG:
// - the "islow" integer IDCT of jidctint.c with CONST_BITS 13 and PASS1_BITS 2 (8-bit) or 1
//   (12-bit). Products and sums are exact JS numbers; only the descaling shifts truncate to 32
//   bits, which IJG's scaling keeps in range for any valid stream;
// - "fancy" triangular upsampling for h2v1 and h2v2 (jdsample.c), box replication otherwise;
// - YCbCr->RGB with jdcolor.c's fixed-point tables when the stream's own markers say YCbCr (JFIF,
//   Adobe APP14 transform, component ids: color.ts), whatever Photometric Interpretation says, as
//   libjpeg-turbo and gdcm do; a 3-component frame always comes back as RGB (colorSpace 'RGB');
// - scan headers of a sequential frame with spectral selection / approximation values other
//   than 0, 63, 0, 0 are decoded as sequential scans with a warning, as IJG's jdhuff.c does.
// Out-of-range IDCT results are clamped to [0, 2^P - 1]; IJG's range table instead wraps for
// values beyond twice the sample range, which only a corrupt stream can produce.
import { allocateSamples } from '../../buffers.js';
import type { CodecOutput, EncodedFrameInfo, SampleAllocator } from '../../types.js';
import type { DecodeWarning } from '../../warnings.js';
import { DicomRejectedError } from '../../errors.js';
import type { HuffmanTable } from './huffman.js';
import {
  BitReader,
  corrupt,
  walkJpeg,
  type FrameHeader,
  type JpegTables,
  type ScanHeader,
} from './markers.js';
import { jpegStreamWarnings, readJpegStreamFacts, type JpegStreamFacts } from './color.js';
import { checkFrameAgainstInfo, packSamples } from './output.js';

/** Zig-zag index -> natural (row-major) coefficient index (T.81 Figure A.6). */
const ZIGZAG = new Int32Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46,
  53, 60, 61, 54, 47, 55, 62, 63,
]);

interface ComponentPlane {
  readonly h: number;
  readonly v: number;
  /** Width and height of the component's samples (A.1.1: ceil(X * H / Hmax)). */
  readonly width: number;
  readonly height: number;
  /** Plane row length in samples: whole MCUs, so interleaved scans never write outside it. */
  readonly stride: number;
  readonly samples: Uint16Array;
}

/**
 * The deepest DCT scale for `info.minSize` (EncodedFrameInfo): 2^level with level <= 3 and both
 * sides, ceil(side / 2^level), at least the minimum; 1 (full resolution) without minSize, and for
 * frames of more than one component (their planes would need scaled upsampling too).
 */
function reducedScale(info: EncodedFrameInfo, components: number): number {
  const min = info.minSize;
  if (min === undefined || components !== 1) return 1;
  let scale = 1;
  while (
    scale < 8 &&
    Math.ceil(info.columns / (scale * 2)) >= min.columns &&
    Math.ceil(info.rows / (scale * 2)) >= min.rows
  ) {
    scale *= 2;
  }
  return scale;
}

/**
 * Decodes one DCT sequential (SOF0/SOF1) image synchronously; see decodeJpegExtended. Output and
 * full-resolution planes come from `buffers` when given (every element is written); the
 * block-padded component planes stay fresh, since not every scan layout writes their padding.
 * With `info.minSize`, a one-component frame is decoded at 1/2, 1/4 or 1/8 scale when both sides
 * stay at least that large (see idctBoxMean), and the output says so in `reduced`.
 */
export function decodeDctImage(
  data: Uint8Array,
  info: EncodedFrameInfo,
  buffers?: SampleAllocator,
): CodecOutput {
  let planes: ComponentPlane[] = [];
  let scale = 1;
  const decoded: boolean[] = [];
  let oddScan: JpegStreamFacts['invalidSequentialScan'];
  const frame = walkJpeg(data, {
    onFrame(f) {
      if (f.process === 2 || f.process === 6 || f.process > 8) {
        throw new DicomRejectedError(
          'unsupported_transfer_syntax',
          `JPEG process SOF${f.process} (progressive, hierarchical or arithmetic) is not supported`,
        );
      }
      if (f.process !== 0 && f.process !== 1) corrupt(`JPEG DCT decoder given a SOF${f.process} frame`);
      if (f.precision !== 8 && f.precision !== 12)
        corrupt(`JPEG DCT precision ${f.precision} is not 8 or 12`);
      checkFrameAgainstInfo(f, info);
      const mcusPerLine = Math.ceil(f.samplesPerLine / (8 * f.maxH));
      const mcusPerColumn = Math.ceil(f.lines / (8 * f.maxV));
      scale = reducedScale(info, f.components.length);
      // Samples per block side: 8, or fewer at a reduced scale.
      const side = 8 / scale;
      planes = f.components.map((c) => {
        const stride = mcusPerLine * c.h * side;
        return {
          h: c.h,
          v: c.v,
          width: Math.ceil((f.samplesPerLine * c.h) / f.maxH),
          height: Math.ceil((f.lines * c.v) / f.maxV),
          stride,
          samples: new Uint16Array(stride * mcusPerColumn * c.v * side),
        };
      });
    },
    onScan(f, scan, tables, pos) {
      // Ss, Se, Ah and Al mean nothing to a sequential scan: odd values are reported, not refused.
      if (scan.ss !== 0 || scan.se !== 63 || scan.ah !== 0 || scan.al !== 0) {
        oddScan ??= { ss: scan.ss, se: scan.se, ah: scan.ah, al: scan.al };
      }
      for (const c of scan.components) {
        if (decoded[c.component.index]) corrupt('JPEG component coded in two sequential scans');
        decoded[c.component.index] = true;
      }
      return decodeScan(data, pos, f, scan, tables, planes, scale);
    },
  });
  for (let i = 0; i < frame.components.length; i++) {
    if (!decoded[i]) corrupt('JPEG stream is missing a component scan');
  }
  const width = frame.samplesPerLine;
  const height = frame.lines;
  const facts = readJpegStreamFacts(data);
  // Every scan was checked while decoding, not only the first one readJpegStreamFacts sees.
  const warnings = jpegStreamWarnings(facts, info, oddScan);
  if (planes.length === 1) {
    const plane = planes[0]!;
    const columns = Math.ceil(width / scale);
    const rows = Math.ceil(height / scale);
    const out = allocateSamples(Uint16Array, columns * rows, buffers);
    for (let y = 0; y < rows; y++)
      out.set(plane.samples.subarray(y * plane.stride, y * plane.stride + columns), y * columns);
    const output = withWarnings(packSamples(out, frame.precision, info, 'as-stored', buffers), warnings);
    return scale === 1 ? output : { ...output, reduced: { level: Math.log2(scale), columns, rows } };
  }
  const full = planes.map((p) => upsample(p, frame, width, height, buffers));
  const out = allocateSamples(Uint16Array, width * height * full.length, buffers);
  if (full.length === 3 && facts.ycbcr) {
    yccToRgb(full[0]!, full[1]!, full[2]!, out, frame.precision);
  } else {
    const n = full.length;
    for (let c = 0; c < n; c++) {
      const src = full[c]!;
      for (let i = 0, j = c; i < src.length; i++, j += n) out[j] = src[i]!;
    }
  }
  // Three components are RGB now: converted from YCbCr, or RGB in the stream already.
  const colorSpace = full.length === 3 ? 'RGB' : 'as-stored';
  return withWarnings(packSamples(out, frame.precision, info, colorSpace, buffers), warnings);
}

function withWarnings(output: CodecOutput, warnings: readonly DecodeWarning[]): CodecOutput {
  return warnings.length === 0 ? output : { ...output, warnings };
}

function decodeScan(
  data: Uint8Array,
  start: number,
  frame: FrameHeader,
  scan: ScanHeader,
  tables: JpegTables,
  planes: readonly ComponentPlane[],
  scale: number,
): number {
  const n = scan.components.length;
  const dcTables: HuffmanTable[] = [];
  const acTables: HuffmanTable[] = [];
  const quant: Int32Array[] = [];
  const scanPlanes: ComponentPlane[] = [];
  for (const c of scan.components) {
    const dc = tables.dc[c.td];
    const ac = tables.ac[c.ta];
    const q = tables.quant[c.component.tq];
    if (!dc || !ac) corrupt('JPEG scan uses an undefined Huffman table');
    if (!q) corrupt('JPEG frame uses an undefined quantization table');
    dcTables.push(dc);
    acTables.push(ac);
    quant.push(q);
    scanPlanes.push(planes[c.component.index]!);
  }
  const precision = frame.precision;
  const reader = new BitReader(data, start);
  const predictions = new Int32Array(n);
  const block = new Int32Array(64);
  const workspace = new Int32Array(64);
  const side = 8 / scale;
  const basis = scale === 1 ? undefined : boxMeanBasis(scale);
  const boxWorkspace = new Float64Array(8 * side);
  // A.2.2: a single-component scan covers only that component's own blocks, not whole MCUs.
  let mcusPerLine: number;
  let mcuCount: number;
  if (n === 1) {
    const p = scanPlanes[0]!;
    mcusPerLine = Math.ceil(p.width / 8);
    mcuCount = mcusPerLine * Math.ceil(p.height / 8);
  } else {
    mcusPerLine = Math.ceil(frame.samplesPerLine / (8 * frame.maxH));
    mcuCount = mcusPerLine * Math.ceil(frame.lines / (8 * frame.maxV));
  }
  const restartInterval = tables.restartInterval;
  let toGo = restartInterval;
  let restarts = 0;
  for (let mcu = 0; mcu < mcuCount; mcu++) {
    if (restartInterval > 0) {
      if (toGo === 0) {
        reader.restart(restarts++);
        predictions.fill(0);
        toGo = restartInterval;
      }
      toGo--;
    }
    const mx = mcu % mcusPerLine;
    const my = (mcu - mx) / mcusPerLine;
    for (let k = 0; k < n; k++) {
      const p = scanPlanes[k]!;
      const bh = n === 1 ? 1 : p.h;
      const bv = n === 1 ? 1 : p.v;
      for (let by = 0; by < bv; by++) {
        for (let bx = 0; bx < bh; bx++) {
          predictions[k] = decodeBlock(reader, dcTables[k]!, acTables[k]!, quant[k]!, block, predictions[k]!);
          const offset = ((my * bv + by) * p.stride + (mx * bh + bx)) * side;
          if (basis === undefined) idctIslow(block, workspace, p.samples, offset, p.stride, precision);
          else idctBoxMean(block, boxWorkspace, basis, side, p.samples, offset, p.stride, precision);
        }
      }
    }
    if (mx === mcusPerLine - 1 && reader.fedZeros > 4 && reader.overran()) {
      corrupt('JPEG entropy-coded data ended early (truncated scan)');
    }
  }
  return reader.finish();
}

/** Decodes one block's coefficients (F.2.2.1-F.2.2.2), dequantized, into natural order. */
function decodeBlock(
  reader: BitReader,
  dc: HuffmanTable,
  ac: HuffmanTable,
  q: Int32Array,
  block: Int32Array,
  prediction: number,
): number {
  block.fill(0);
  const dcValue = prediction + reader.receiveExtend(reader.decode(dc));
  block[0] = dcValue * q[0]!;
  for (let k = 1; k < 64;) {
    const rs = reader.decode(ac);
    const size = rs & 15;
    const run = rs >> 4;
    if (size === 0) {
      if (run !== 15) break; // EOB
      k += 16; // ZRL
      continue;
    }
    k += run;
    if (k > 63) corrupt('JPEG block has more than 64 coefficients');
    block[ZIGZAG[k]!] = reader.receiveExtend(size) * q[k]!;
    k++;
  }
  return dcValue;
}

// jidctint.c constants: FIX(x) = round(x * 2^13).
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;
const CONST_SCALE = 8192; // 2^CONST_BITS

/** IJG jidctint.c jpeg_idct_islow, writing clamped samples into a plane at `offset`. */
function idctIslow(
  block: Int32Array,
  ws: Int32Array,
  out: Uint16Array,
  offset: number,
  stride: number,
  precision: number,
): void {
  // jidctint.c: PASS1_BITS 2 for 8-bit samples, 1 for 12-bit, so that every intermediate of a
  // valid stream fits in 32 bits; DESCALE(x, n) = (x + 2^(n-1)) >> n.
  const pass1Bits = precision === 8 ? 2 : 1;
  const n1 = 13 - pass1Bits;
  const half1 = 1 << (n1 - 1);
  const n2 = 13 + pass1Bits + 3;
  const half2 = 1 << (n2 - 1);
  const n3 = pass1Bits + 3;
  const half3 = 1 << (n3 - 1);
  const center = 1 << (precision - 1);
  const max = (1 << precision) - 1;

  // Pass 1: columns from the coefficient block into the workspace.
  for (let c = 0; c < 8; c++) {
    if (
      block[8 + c] === 0 &&
      block[16 + c] === 0 &&
      block[24 + c] === 0 &&
      block[32 + c] === 0 &&
      block[40 + c] === 0 &&
      block[48 + c] === 0 &&
      block[56 + c] === 0
    ) {
      const dc = block[c]! << pass1Bits;
      for (let r = 0; r < 64; r += 8) ws[r + c] = dc;
      continue;
    }
    let z2 = block[16 + c]!;
    let z3 = block[48 + c]!;
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 - z3 * FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    z2 = block[c]!;
    z3 = block[32 + c]!;
    let tmp0 = (z2 + z3) * CONST_SCALE;
    let tmp1 = (z2 - z3) * CONST_SCALE;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;

    tmp0 = block[56 + c]!;
    tmp1 = block[40 + c]!;
    tmp2 = block[24 + c]!;
    tmp3 = block[8 + c]!;
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;

    ws[c] = (tmp10 + tmp3 + half1) >> n1;
    ws[56 + c] = (tmp10 - tmp3 + half1) >> n1;
    ws[8 + c] = (tmp11 + tmp2 + half1) >> n1;
    ws[48 + c] = (tmp11 - tmp2 + half1) >> n1;
    ws[16 + c] = (tmp12 + tmp1 + half1) >> n1;
    ws[40 + c] = (tmp12 - tmp1 + half1) >> n1;
    ws[24 + c] = (tmp13 + tmp0 + half1) >> n1;
    ws[32 + c] = (tmp13 - tmp0 + half1) >> n1;
  }

  // Pass 2: rows from the workspace into the output, descaled by 2^(CONST_BITS+PASS1_BITS+3).
  for (let r = 0; r < 64; r += 8) {
    let o = offset + (r >> 3) * stride;
    if (
      ws[r + 1] === 0 &&
      ws[r + 2] === 0 &&
      ws[r + 3] === 0 &&
      ws[r + 4] === 0 &&
      ws[r + 5] === 0 &&
      ws[r + 6] === 0 &&
      ws[r + 7] === 0
    ) {
      let v = ((ws[r]! + half3) >> n3) + center;
      v = v < 0 ? 0 : v > max ? max : v;
      out.fill(v, o, o + 8);
      continue;
    }
    let z2 = ws[r + 2]!;
    let z3 = ws[r + 6]!;
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 - z3 * FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (ws[r]! + ws[r + 4]!) * CONST_SCALE;
    let tmp1 = (ws[r]! - ws[r + 4]!) * CONST_SCALE;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;

    tmp0 = ws[r + 7]!;
    tmp1 = ws[r + 5]!;
    tmp2 = ws[r + 3]!;
    tmp3 = ws[r + 1]!;
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;

    let v: number;
    v = ((tmp10 + tmp3 + half2) >> n2) + center;
    out[o] = v < 0 ? 0 : v > max ? max : v;
    v = ((tmp11 + tmp2 + half2) >> n2) + center;
    out[++o] = v < 0 ? 0 : v > max ? max : v;
    v = ((tmp12 + tmp1 + half2) >> n2) + center;
    out[++o] = v < 0 ? 0 : v > max ? max : v;
    v = ((tmp13 + tmp0 + half2) >> n2) + center;
    out[++o] = v < 0 ? 0 : v > max ? max : v;
    v = ((tmp13 - tmp0 + half2) >> n2) + center;
    out[++o] = v < 0 ? 0 : v > max ? max : v;
    v = ((tmp12 - tmp1 + half2) >> n2) + center;
    out[++o] = v < 0 ? 0 : v > max ? max : v;
    v = ((tmp11 - tmp2 + half2) >> n2) + center;
    out[++o] = v < 0 ? 0 : v > max ? max : v;
    v = ((tmp10 - tmp3 + half2) >> n2) + center;
    out[++o] = v < 0 ? 0 : v > max ? max : v;
  }
}

/**
 * The separable basis of idctBoxMean at `scale` (2, 4 or 8): entry u * side + i is
 * (C(u) / 2) times the mean of cos((2x + 1) u pi / 16) over the `scale` positions x of box i
 * (T.81 A.3.3, C(0) = 1 / sqrt(2), else 1).
 */
function boxMeanBasis(scale: number): Float64Array {
  const side = 8 / scale;
  const basis = new Float64Array(8 * side);
  for (let u = 0; u < 8; u++) {
    const c = u === 0 ? Math.SQRT1_2 : 1;
    for (let i = 0; i < side; i++) {
      let sum = 0;
      for (let x = i * scale; x < (i + 1) * scale; x++) sum += Math.cos(((2 * x + 1) * u * Math.PI) / 16);
      basis[u * side + i] = (c / 2) * (sum / scale);
    }
  }
  return basis;
}

/**
 * One block at 1/scale: each sample is the mean of the exact inverse DCT (T.81 A.3.3, in floating
 * point) over its scale x scale box of the block, level-shifted, rounded and clamped to
 * [0, 2^P - 1] like idctIslow's samples. It is what decoding at full resolution and averaging
 * the boxes gives, up to the rounding of each full-resolution sample (and islow's own
 * approximation), for about a third of the IDCT's arithmetic and 1/scale^2 of its writes. The
 * model input is resized from there (decodeResolution 'auto'), so the boxes it would have
 * averaged anyway are averaged here.
 */
function idctBoxMean(
  block: Int32Array,
  ws: Float64Array,
  basis: Float64Array,
  side: number,
  out: Uint16Array,
  offset: number,
  stride: number,
  precision: number,
): void {
  const center = 1 << (precision - 1);
  const max = (1 << precision) - 1;
  if (side === 2) {
    idctBoxMean2(block, ws, basis, out, offset, stride, center, max);
    return;
  }
  // Rows of coefficients (vertical frequency v) against the horizontal basis.
  for (let v = 0; v < 8; v++) {
    const r = v * 8;
    const w = v * side;
    if (
      block[r] === 0 &&
      block[r + 1] === 0 &&
      block[r + 2] === 0 &&
      block[r + 3] === 0 &&
      block[r + 4] === 0 &&
      block[r + 5] === 0 &&
      block[r + 6] === 0 &&
      block[r + 7] === 0
    ) {
      for (let j = 0; j < side; j++) ws[w + j] = 0;
      continue;
    }
    for (let j = 0; j < side; j++) {
      let sum = 0;
      for (let u = 0; u < 8; u++) sum += block[r + u]! * basis[u * side + j]!;
      ws[w + j] = sum;
    }
  }
  // Then down the columns against the vertical basis.
  for (let i = 0; i < side; i++) {
    const o = offset + i * stride;
    for (let j = 0; j < side; j++) {
      let sum = 0;
      for (let v = 0; v < 8; v++) sum += ws[v * side + j]! * basis[v * side + i]!;
      const value = Math.round(sum) + center;
      out[o + j] = value < 0 ? 0 : value > max ? max : value;
    }
  }
}

/**
 * idctBoxMean at 1/4 (2x2 samples per block), the scale a 2048-wide CR takes for a 512 input. Over
 * a box of four positions the even frequencies above 0 average to 0 and the odd ones to opposite
 * values in the two boxes, so each sum is the DC term plus or minus the odd terms.
 */
function idctBoxMean2(
  block: Int32Array,
  ws: Float64Array,
  basis: Float64Array,
  out: Uint16Array,
  offset: number,
  stride: number,
  center: number,
  max: number,
): void {
  const a0 = basis[0]!;
  const a1 = basis[2]!;
  const a3 = basis[6]!;
  const a5 = basis[10]!;
  const a7 = basis[14]!;
  for (let v = 0; v < 8; v++) {
    const r = v * 8;
    const even = block[r]! * a0;
    const odd = block[r + 1]! * a1 + block[r + 3]! * a3 + block[r + 5]! * a5 + block[r + 7]! * a7;
    ws[2 * v] = even + odd;
    ws[2 * v + 1] = even - odd;
  }
  for (let j = 0; j < 2; j++) {
    const even = ws[j]! * a0;
    const odd = ws[2 + j]! * a1 + ws[6 + j]! * a3 + ws[10 + j]! * a5 + ws[14 + j]! * a7;
    const top = Math.round(even + odd) + center;
    const bottom = Math.round(even - odd) + center;
    out[offset + j] = top < 0 ? 0 : top > max ? max : top;
    out[offset + stride + j] = bottom < 0 ? 0 : bottom > max ? max : bottom;
  }
}

/**
 * Brings a component plane to full resolution (IJG jdsample.c): fancy triangular filters for
 * 2:1 horizontal (h2v1) and 2:1 both ways (h2v2), box replication for other integral ratios.
 * Edge rows and columns are replicated, as IJG's context rows do.
 */
function upsample(
  p: ComponentPlane,
  frame: FrameHeader,
  width: number,
  height: number,
  buffers: SampleAllocator | undefined,
): Uint16Array {
  const hx = frame.maxH / p.h;
  const vx = frame.maxV / p.v;
  if (!Number.isInteger(hx) || !Number.isInteger(vx))
    corrupt('JPEG sampling factors with a non-integral ratio are not supported');
  const out = allocateSamples(Uint16Array, width * height, buffers);
  const src = p.samples;
  const dw = p.width;
  if (hx === 1 && vx === 1) {
    for (let y = 0; y < height; y++) out.set(src.subarray(y * p.stride, y * p.stride + width), y * width);
    return out;
  }
  const row = new Uint16Array(dw * hx + 2);
  if (hx === 2 && vx === 1 && dw >= 2) {
    for (let y = 0; y < height; y++) {
      const s = y * p.stride;
      row[0] = src[s]!;
      row[1] = (src[s]! * 3 + src[s + 1]! + 2) >> 2;
      for (let x = 1; x < dw - 1; x++) {
        const v = src[s + x]! * 3;
        row[2 * x] = (v + src[s + x - 1]! + 1) >> 2;
        row[2 * x + 1] = (v + src[s + x + 1]! + 2) >> 2;
      }
      const last = src[s + dw - 1]!;
      row[2 * dw - 2] = (last * 3 + src[s + dw - 2]! + 1) >> 2;
      row[2 * dw - 1] = last;
      out.set(row.subarray(0, width), y * width);
    }
    return out;
  }
  if (hx === 2 && vx === 2 && dw >= 2) {
    const dh = p.height;
    for (let y = 0; y < height; y++) {
      const inRow = y >> 1;
      // The nearer neighbour row is above for even output rows, below for odd ones.
      let other = (y & 1) === 0 ? inRow - 1 : inRow + 1;
      if (other < 0) other = 0;
      if (other > dh - 1) other = dh - 1;
      const s0 = inRow * p.stride;
      const s1 = other * p.stride;
      let thisSum = src[s0]! * 3 + src[s1]!;
      let nextSum = src[s0 + 1]! * 3 + src[s1 + 1]!;
      row[0] = (thisSum * 4 + 8) >> 4;
      row[1] = (thisSum * 3 + nextSum + 7) >> 4;
      let lastSum = thisSum;
      thisSum = nextSum;
      for (let x = 2; x < dw; x++) {
        nextSum = src[s0 + x]! * 3 + src[s1 + x]!;
        row[2 * x - 2] = (thisSum * 3 + lastSum + 8) >> 4;
        row[2 * x - 1] = (thisSum * 3 + nextSum + 7) >> 4;
        lastSum = thisSum;
        thisSum = nextSum;
      }
      row[2 * dw - 2] = (thisSum * 3 + lastSum + 8) >> 4;
      row[2 * dw - 1] = (thisSum * 4 + 7) >> 4;
      out.set(row.subarray(0, width), y * width);
    }
    return out;
  }
  for (let y = 0; y < height; y++) {
    const s = Math.floor(y / vx) * p.stride;
    for (let x = 0; x < width; x++) out[y * width + x] = src[s + Math.floor(x / hx)]!;
  }
  return out;
}

/** jdcolor.c ycc_rgb_convert: R = Y + 1.402 Cr', G = Y - 0.34414 Cb' - 0.71414 Cr', B = Y + 1.772 Cb'. */
function yccToRgb(
  y: Uint16Array,
  cb: Uint16Array,
  cr: Uint16Array,
  out: Uint16Array,
  precision: number,
): void {
  const size = 1 << precision;
  const center = size >> 1;
  const max = size - 1;
  const fix = (x: number): number => Math.floor(x * 65536 + 0.5);
  const crR = new Int32Array(size);
  const cbB = new Int32Array(size);
  const crG = new Int32Array(size);
  const cbG = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const x = i - center;
    crR[i] = (fix(1.402) * x + 32768) >> 16;
    cbB[i] = (fix(1.772) * x + 32768) >> 16;
    crG[i] = -fix(0.71414) * x;
    cbG[i] = -fix(0.34414) * x + 32768;
  }
  for (let i = 0, j = 0; i < y.length; i++, j += 3) {
    const l = y[i]!;
    const b = cb[i]!;
    const r = cr[i]!;
    const red = l + crR[r]!;
    const green = l + ((cbG[b]! + crG[r]!) >> 16);
    const blue = l + cbB[b]!;
    out[j] = red < 0 ? 0 : red > max ? max : red;
    out[j + 1] = green < 0 ? 0 : green > max ? max : green;
    out[j + 2] = blue < 0 ? 0 : blue > max ? max : blue;
  }
}
