export * from './logger';
export * from './metrics';
export * from './redis-checks';
export * from './queue-metrics';
export * from './lifecycle';
export * from './redis-client';
