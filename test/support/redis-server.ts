// The same throwaway redis-server helper the demo and the benchmark use.
export * from '../../scripts/lib/redis-server';
