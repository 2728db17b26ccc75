export * from './applicability.js';
export * from './decode-pool.js';
export * from './decode-task.js';
export * from './image-features.js';
export * from './png.js';
export * from './preprocess.js';
export * from './resize.js';
export * from './synthetic.js';
