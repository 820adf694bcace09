import type { Config } from 'jest';

// One Jest run for the whole monorepo. Tests import workspace packages from source (no build needed for
// unit tests); integration tests that spawn processes use the compiled dist/ that `npm test` builds first.
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/apps', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }] },
  moduleNameMapper: {
    '^@pushfleet/sandbox$': '<rootDir>/apps/sandbox/src',
    '^@pushfleet/(config|registry|events|producer|delivery|observability)$': '<rootDir>/packages/$1/src',
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  maxWorkers: 2,
  testTimeout: 30_000,
};

export default config;
