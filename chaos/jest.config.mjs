import base from '../jest.config.js';

/** The chaos run, not a test of the suite: only `npm run chaos` runs it, with the test suite's servers. */
/** @type {import('jest').Config} */
export default {
  ...base,
  rootDir: '..',
  roots: ['<rootDir>/chaos'],
  testMatch: ['**/*.run.ts'],
  testTimeout: 3_600_000,
  // The simulators' and servers' lingering keep-alive sockets must not hold a finished run open in CI.
  forceExit: true,
};
