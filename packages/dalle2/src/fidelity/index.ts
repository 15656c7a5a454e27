export * from './check.js';
export * from './suites.js';
