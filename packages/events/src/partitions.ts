import { QUEUE_NAMES, type PushSystem } from './job';

/** QUEUE_PARTITIONS default: one queue per system, named as before partitions existed (`{apns}`, `{gcm}`). */
export const DEFAULT_QUEUE_PARTITIONS = 1;
/** Upper bound of QUEUE_PARTITIONS: each partition costs every worker one BullMQ Worker and two connections. */
export const MAX_QUEUE_PARTITIONS = 256;

/** Redis Cluster's 16384 hash slots. */
const SLOTS = 16384;

/** CRC16/XMODEM, the hash Redis Cluster maps keys (their hash tags) to slots with: slot = crc16(tag) % 16384. */
export function hashSlot(tag: string): number {
  let crc = 0;
  for (const b of Buffer.from(tag)) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % SLOTS;
}

const nameCache = new Map<string, string>();

/**
 * The BullMQ queue name of partition `partition` of `count`. Partition 0 keeps the historical name
 * (`{apns}`), so a standalone deployment (one partition) and the backlog of an older version are unchanged
 * (BullMQ refuses ":" in queue names, hence the "-").
 * Partition p > 0 is `{apns-p}`, or `{apns-p.k}` with the smallest k that puts its hash slot within
 * 1/8 of a partition's share of the slot space from `slot({apns}) + p * 16384 / count`: the partitions sit
 * evenly over the slots, so with N masters owning equal slot ranges (what `redis-cli --cluster create`
 * does) and a multiple of N partitions, each master holds the same number of partitions. Each name is
 * its own hash tag. Deterministic: every process computes the same names.
 */
export function partitionQueueName(system: PushSystem, partition: number, count: number): string {
  if (partition === 0) return QUEUE_NAMES[system];
  const cacheKey = `${system}/${partition}/${count}`;
  const cached = nameCache.get(cacheKey);
  if (cached) return cached;
  const share = SLOTS / count;
  const target = (hashSlot(system) + partition * share) % SLOTS;
  const window = Math.max(1, share / 8);
  let tag = `${system}-${partition}`;
  for (let k = 1; circularDistance(hashSlot(tag), target) > window; k++) tag = `${system}-${partition}.${k}`;
  const name = `{${tag}}`;
  nameCache.set(cacheKey, name);
  return name;
}

function circularDistance(a: number, b: number): number {
  const d = Math.abs(a - b);
  return Math.min(d, SLOTS - d);
}

/** The queue names of the given partitions of one system (all `count` of them when `partitions` is absent). */
export function partitionQueueNames(system: PushSystem, count: number, partitions?: readonly number[]): string[] {
  return (partitions ?? allPartitions(count)).map((p) => partitionQueueName(system, p, count));
}

/** 0 .. count-1 */
export function allPartitions(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}

/**
 * The partition an owner's events go to: FNV-1a (32 bit) of the owner string, modulo `count`. Stable across
 * processes and versions, so one user's events always share one queue and stay in order. Changing
 * QUEUE_PARTITIONS moves owners: drain the queues first (docs/operations.md).
 */
export function partitionOf(owner: string, count: number): number {
  if (count <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < owner.length; i++) {
    h ^= owner.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % count;
}

/**
 * Parses a partition subset such as `0-3`, `5`, `0-1,6-7` against `count` partitions. Returns the sorted,
 * distinct partitions, or an error message.
 */
export function parsePartitionSet(spec: string, count: number): number[] | string {
  const out = new Set<number>();
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return `"${part}" is not a partition or a range a-b`;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > to || to >= count) return `"${part}" is outside 0-${count - 1} (QUEUE_PARTITIONS=${count})`;
    for (let p = from; p <= to; p++) out.add(p);
  }
  if (out.size === 0) return 'names no partition';
  return [...out].sort((a, b) => a - b);
}
