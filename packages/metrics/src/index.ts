export * from './contract.js';
export * from './metrics.js';
export * from './drift.js';
export * from './drift-reference.js';
export * from './drift-window.js';
