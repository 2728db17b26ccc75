export * from './dcmtk.js';
export * from './variants.js';
