export * from './schema';
export * from './payload';
export * from './policy';
export * from './job';
export * from './job-schema';
export * from './partitions';
