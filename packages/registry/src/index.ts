export * from './keys';
export * from './entries';
export * from './registry';
export * from './devices';
export * from './migrate';
export * from './tombstones';
