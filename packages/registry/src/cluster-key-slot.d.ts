// cluster-key-slot (ioredis's own dependency for slot routing) ships no types: its default export maps a
// key to its Redis Cluster hash slot, honouring {hash tags}.
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string): number;
}
