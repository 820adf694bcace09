import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { summarizeProfile } from '../scripts/bench/profile';

// A synthetic .cpuprofile, 100 ms per sample: "early" busy for 800 ms in second 0, idle until 2 s, then
// "late" busy for 1000 ms in second 2.
function writeProfile(): string {
  const frame = (id: number, functionName: string, url = '') => ({ id, callFrame: { functionName, url, lineNumber: 0, columnNumber: 0 } });
  const nodes = [frame(1, '(root)'), frame(2, 'early', 'file:///x/packages/delivery/dist/worker.js'), frame(3, '(idle)'), frame(4, 'late', 'node:internal/http2/core')];
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  for (const [node, count] of [[2, 8], [3, 12], [4, 10]] as const) {
    for (let i = 0; i < count; i++) { samples.push(node); timeDeltas.push(timeDeltas.length === 0 ? 50_000 : 100_000); }
  }
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pf-prof-')), 'x.cpuprofile');
  fs.writeFileSync(file, JSON.stringify({ nodes, startTime: 0, endTime: 3_050_000, samples, timeDeltas }));
  return file;
}

test('summarizes self time by function and module, and keeps only a window of seconds when asked', () => {
  const file = writeProfile();
  const all = summarizeProfile(file);
  expect(all.busyBySecond).toEqual([800, 0, 1000]);
  expect(all.busyMs).toBe(1800);
  expect(all.functions.map((f) => [f.name, f.percent])).toEqual([['late', 55.6], ['early', 44.4]]);
  expect(all.modules.map((m) => m.name)).toEqual(['node:internal/http2', '@pushfleet/delivery']);
  const late = summarizeProfile(file, 20, { from: 2, to: 3 });
  expect(late.functions.map((f) => [f.name, f.percent])).toEqual([['late', 100]]);
  expect(late.busyMs).toBe(1000);
  expect(late.busyBySecond).toEqual(all.busyBySecond);
});

test('cuts a profile to a window given on the monotonic clock (microseconds), as the bench records its phases', () => {
  const file = writeProfile();
  // startTime is 0 here: "late" is sampled from 2.05 s on.
  const late = summarizeProfile(file, 20, { from: 2_000_000, to: 3_100_000, absoluteUs: true });
  expect(late.functions.map((f) => [f.name, f.percent])).toEqual([['late', 100]]);
  const early = summarizeProfile(file, 20, { from: 0, to: 900_000, absoluteUs: true });
  expect(early.functions.map((f) => f.name)).toEqual(['early']);
});
