import { hashSlot, partitionOf, partitionQueueName, partitionQueueNames, parsePartitionSet } from './partitions';

test('partition 0 keeps the unpartitioned queue names; the others carry their own hash tag', () => {
  expect(partitionQueueName('apns', 0, 4)).toBe('{apns}');
  expect(partitionQueueName('gcm', 0, 1)).toBe('{gcm}');
  const names = partitionQueueNames('apns', 4);
  expect(names[0]).toBe('{apns}');
  for (const [p, n] of names.entries()) if (p > 0) expect(n).toMatch(new RegExp(`^\\{apns-${p}(\\.\\d+)?\\}$`));
  expect(new Set(names).size).toBe(4);
  expect(partitionQueueNames('apns', 4, [1, 3])).toEqual([names[1], names[3]]);
});

test('the partitions sit evenly over the hash slots: one per equal slot range, as N masters own them', () => {
  expect(hashSlot('apns')).toBe(4543); // CLUSTER KEYSLOT {apns}
  for (const count of [2, 3, 4, 6, 8, 12, 64]) {
    for (const system of ['apns', 'gcm'] as const) {
      const share = 16384 / count;
      const offsets = partitionQueueNames(system, count).map((n) => (hashSlot(n.slice(1, -1)) - hashSlot(system) + 16384) % 16384);
      offsets.forEach((o, p) => expect(Math.min(Math.abs(o - p * share), 16384 - Math.abs(o - p * share))).toBeLessThanOrEqual(share / 8));
      // 3 masters with equal ranges: each holds count/3 partitions (rounded) when count is a multiple of 3.
      if (count % 3 === 0) {
        const perMaster = [0, 0, 0];
        for (const n of partitionQueueNames(system, count)) perMaster[Math.min(2, Math.floor(hashSlot(n.slice(1, -1)) / 5461.34))]++;
        expect(perMaster).toEqual([count / 3, count / 3, count / 3]);
      }
    }
  }
});

test('an owner always maps to the same partition, and owners spread over all of them', () => {
  expect(partitionOf('9aed5e94-3803-11e3-8475-0024e8f90cc0', 1)).toBe(0);
  const p = partitionOf('9aed5e94-3803-11e3-8475-0024e8f90cc0', 8);
  for (let i = 0; i < 5; i++) expect(partitionOf('9aed5e94-3803-11e3-8475-0024e8f90cc0', 8)).toBe(p);
  const counts = new Array(4).fill(0);
  for (let i = 0; i < 4000; i++) counts[partitionOf(`00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, 4)]++;
  for (const c of counts) expect(c).toBeGreaterThan(800); // 1000 each when even
});

test('WORKER_PARTITIONS sets: ranges, lists, and everything outside QUEUE_PARTITIONS refused', () => {
  expect(parsePartitionSet('0-3', 8)).toEqual([0, 1, 2, 3]);
  expect(parsePartitionSet('6-7, 0-1,1', 8)).toEqual([0, 1, 6, 7]);
  expect(parsePartitionSet('4', 4)).toMatch(/outside 0-3/);
  expect(parsePartitionSet('3-1', 4)).toMatch(/outside/);
  expect(parsePartitionSet('a', 4)).toMatch(/not a partition/);
  expect(parsePartitionSet(' , ', 4)).toMatch(/names no partition/);
});
