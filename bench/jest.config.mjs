import base from '../jest.config.js';

/** The benchmark, not a test: only `npm run bench` runs it, with the test suite's servers. */
/** @type {import('jest').Config} */
export default {
  ...base,
  rootDir: '..',
  roots: ['<rootDir>/bench'],
  testMatch: ['**/*.bench.ts'],
  globalTeardown: '<rootDir>/bench/global-teardown.ts',
  testTimeout: 3_600_000,
};
