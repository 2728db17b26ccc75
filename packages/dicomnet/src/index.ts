export * from './uids.js';
export * from './status.js';
export * from './part10.js';
export * from './store-scp.js';
export * from './scu.js';
