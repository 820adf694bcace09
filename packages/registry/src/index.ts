export * from './keys';
export * from './registry';
export * from './rate-limit';
