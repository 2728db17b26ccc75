export * from './contract.js';
export * from './metrics.js';
export * from './drift.js';
