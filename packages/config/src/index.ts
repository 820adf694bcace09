export * from './env';
export * from './push-apps';
export * from './api';
export * from './workers';
export * from './apns-credentials';
export * from './redis';
export * from './queues';
export * from './pruning';
