import { PruneGuard } from './prune-guard';

const T0 = 1_000_000_000_000;

describe('prune-storm guard', () => {
  test('normal churn (5 % prune answers) prunes every one of them and never trips', () => {
    const trips: string[] = [];
    const g = new PruneGuard({ onTrip: (app) => trips.push(app) });
    let allowed = 0;
    for (let i = 0; i < 1000; i++) if (g.answer('app', 'production', i % 20 === 0, T0 + i) && i % 20 === 0) allowed++;
    expect(allowed).toBe(50);
    expect(trips).toEqual([]);
  });

  test('a storm (every answer a prune) prunes at most 20 % of the first 100 and trips once', () => {
    const trips: string[] = [];
    const g = new PruneGuard({ onTrip: (app, env) => trips.push(`${app}|${env}`) });
    let allowed = 0;
    for (let i = 0; i < 500; i++) if (g.answer('app', 'production', true, T0 + i)) allowed++;
    expect(allowed).toBe(20);
    expect(trips).toEqual(['app|production']);
    expect(g.tripped('app', 'production')).toBe(true);
    // Other apps and the other environment of the same app prune as before.
    expect(g.answer('other', 'production', true, T0 + 501)).toBe(true);
    expect(g.answer('app', 'sandbox', true, T0 + 502)).toBe(true);
  });

  test('it releases once the share is back under the limit on enough answers, and old answers leave the window', () => {
    const released: string[] = [];
    const g = new PruneGuard({ windowMs: 10_000, onRelease: (app) => released.push(app) });
    for (let i = 0; i < 200; i++) g.answer('app', 'production', true, T0 + i);
    expect(g.tripped('app', 'production')).toBe(true);
    // Fixed: deliveries succeed. Once the storm's answers age out of the window, the share is normal.
    const later = T0 + 20_000;
    for (let i = 0; i < 99; i++) g.answer('app', 'production', false, later + i);
    expect(g.tripped('app', 'production')).toBe(true); // not yet the minimum of answers
    g.answer('app', 'production', false, later + 100);
    expect(released).toEqual(['app']);
    expect(g.answer('app', 'production', true, later + 101)).toBe(true);
  });
});
