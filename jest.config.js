/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Octokit and its helpers ship only ES modules, which Jest on Node 20 cannot require: compile them to CommonJS.
  transform: {
    '^.+\\.ts$': 'ts-jest',
    '^.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs' }, isolatedModules: true }],
  },
  transformIgnorePatterns: [
    '/node_modules/(?!(@octokit|universal-user-agent|before-after-hook|content-type|json-with-bigint)/)',
  ],
  globalSetup: '<rootDir>/test/infra/global-setup.ts',
  globalTeardown: '<rootDir>/test/infra/global-teardown.ts',
  // Workflow tests start workers and bundle workflow code; the first bundle takes several seconds.
  testTimeout: 120_000,
};
