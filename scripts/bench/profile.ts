#!/usr/bin/env node
// Top self time of a V8 .cpuprofile (node --cpu-prof), by function and by module.
//
//   node scripts/dist/bench/profile.js <file.cpuprofile> [--top 25]
import fs from 'node:fs';
import path from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface ProfileEntry { name: string; where: string; selfMs: number; percent: number }
export interface ProfileSummary {
  file: string;
  /** Milliseconds busy (not idle) in each second of the profile, window or not: where the phases are. */
  busyBySecond: number[];
  totalMs: number;
  /** Sampled time not spent idle: the percentages are of this. */
  busyMs: number;
  functions: ProfileEntry[];
  modules: ProfileEntry[];
}

/** Shortens a script URL to something readable: node:internal/…, <package>/file, or the pushfleet path. */
function shortUrl(url: string): string {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  const m = /(?:packages|apps|scripts)\/.*$/.exec(u);
  return m ? m[0] : u;
}

/** The module a URL belongs to: a package name, node:<area>, or the pushfleet workspace. */
function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const u = shortUrl(url);
  if (u.startsWith('node:')) return u.split('/').slice(0, 2).join('/');
  if (url.includes('node_modules/')) {
    const parts = u.split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const m = /^(packages|apps)\/([^/]+)/.exec(u);
  return m ? `@pushfleet/${m[2]}` : u;
}

/**
 * `window` (seconds since the profile started, or with `absoluteUs` microseconds of the monotonic clock,
 * which V8 and process.hrtime share) keeps only the samples taken then, e.g. one bench phase;
 * `busyBySecond` (ms busy per second of the profile) shows where the phases are.
 */
export function summarizeProfile(file: string, top = 20, window?: { from: number; to: number; absoluteUs?: boolean }): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  // Sample i lasts until sample i+1: its duration is timeDeltas[i + 1] (the last one until endTime).
  const self = new Map<number, number>();
  let t = p.startTime;
  const stamps = p.timeDeltas.map((d) => (t += d));
  const busyBySecond: number[] = [];
  for (let i = 0; i < p.samples.length; i++) {
    const dur = (i + 1 < stamps.length ? stamps[i + 1] : p.endTime) - stamps[i];
    const second = Math.floor((stamps[i] - p.startTime) / 1e6);
    if (byId.get(p.samples[i])!.callFrame.functionName !== '(idle)' && dur > 0) busyBySecond[second] = (busyBySecond[second] ?? 0) + dur / 1000;
    if (window && !window.absoluteUs && (second < window.from || second >= window.to)) continue;
    if (window?.absoluteUs && (stamps[i] < window.from || stamps[i] >= window.to)) continue;
    if (dur > 0) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dur);
  }
  const fns = new Map<string, { name: string; where: string; us: number }>();
  const mods = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const name = f.functionName || '(anonymous)';
    total += us;
    if (name === '(idle)') { idle += us; continue; }
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const e = fns.get(key) ?? { name, where, us: 0 };
    e.us += us;
    fns.set(key, e);
    const mod = moduleOf(f.url, name);
    mods.set(mod, (mods.get(mod) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => Math.round((us / busy) * 1000) / 10;
  return {
    file,
    busyBySecond: Array.from(busyBySecond, (ms) => Math.round(ms ?? 0)),
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    functions: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, selfMs: Math.round(e.us / 1000), percent: pct(e.us) })),
    modules: [...mods].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([name, us]) => ({ name, where: '', selfMs: Math.round(us / 1000), percent: pct(us) })),
  };
}

export function formatProfile(s: ProfileSummary): string {
  const lines = [`${path.basename(s.file)}: ${s.busyMs} ms busy of ${s.totalMs} ms sampled`, '', 'self time by function (% of busy):'];
  for (const e of s.functions) lines.push(`  ${e.percent.toFixed(1).padStart(5)} %  ${String(e.selfMs).padStart(6)} ms  ${e.name}  ${e.where}`);
  lines.push('', 'self time by module:');
  for (const e of s.modules) lines.push(`  ${e.percent.toFixed(1).padStart(5)} %  ${String(e.selfMs).padStart(6)} ms  ${e.name}`);
  return lines.join('\n');
}

/** The newest .cpuprofile in `dir` written after `since` (ms) whose name contains `part`, if any. */
export function newestProfile(dir: string, since = 0, part = ''): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && f.includes(part))
    .map((f) => ({ f: path.join(dir, f), m: fs.statSync(path.join(dir, f)).mtimeMs }))
    .filter((x) => x.m >= since)
    .sort((a, b) => b.m - a.m);
  return files[0]?.f;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const value = (flag: string) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : undefined; };
  const top = Number(value('--top') ?? 25);
  const from = value('--from');
  const to = value('--to');
  const file = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  if (!file || [top, from ?? 0, to ?? 0].some((n) => !Number.isFinite(Number(n)))) {
    console.error('usage: bench-profile <file.cpuprofile> [--top 25] [--from S --to S] [--seconds]');
    process.exit(2);
  }
  const s = summarizeProfile(file, top, from !== undefined || to !== undefined ? { from: Number(from ?? 0), to: Number(to ?? Infinity) } : undefined);
  if (args.includes('--seconds')) console.log(`ms busy per second: ${s.busyBySecond.map((ms, i) => `${i}:${ms}`).join(' ')}\n`);
  console.log(formatProfile(s));
}
