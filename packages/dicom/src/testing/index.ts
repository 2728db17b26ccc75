/**
 * Test support shared by every package's tests, the fixture generator and benchmarks:
 * `import { writeDicom } from '@cxr/dicom/testing'`. Production code never imports it.
 */
export * from './diff.js';
export * from './phantom.js';
export * from './pixel-bytes.js';
export * from './read-dicom.js';
export * from './tools.js';
export * from './wasm-encoders.js';
export * from './write-dicom.js';
