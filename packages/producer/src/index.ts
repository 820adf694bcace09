export * from './errors';
export * from './jobs';
export * from './producer';
export type { RejectReason } from './metrics';
export * from './replay';
