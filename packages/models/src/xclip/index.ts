export * from './config.js';
export * from './model.js';
export * from './adapter.js';
