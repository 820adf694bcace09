export * from './keys';
export * from './registry';
export * from './devices';
export * from './rate-limit';
