import { z } from 'zod';

/** Every bad or missing variable at once, so an operator fixes the config in one go. */
export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

/** Parses env with a zod object schema; empty strings count as unset. */
export function parseEnv<S extends z.ZodType>(schema: S, env: Env): z.infer<S> {
  const cleaned: Env = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') cleaned[k] = v;
  const res = schema.safeParse(cleaned);
  if (!res.success) {
    throw new ConfigError(res.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  return res.data;
}

export const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);
export const positiveInt = (def: number) => z.coerce.number().int().positive().default(def);
export const nonNegativeInt = (def: number) => z.coerce.number().int().min(0).default(def);
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** A duration as `<n><unit>` (`ms`, `s`, `m`, `h`, `d`; a bare number is seconds), parsed to milliseconds. */
export const durationMs = (def: string) => z.string().default(def).transform((v, ctx) => {
  const m = /^([0-9]+)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m || Number(m[1]) === 0) {
    ctx.addIssue({ code: 'custom', message: 'must be a positive duration such as 90s, 30m, 24h or 7d' });
    return z.NEVER;
  }
  return Number(m[1]) * UNIT_MS[m[2] ?? 's'];
});
/** A boolean switch: `true` or `false` (anything else is a configuration error). */
export const flag = (def: boolean) => z.enum(['true', 'false']).default(def ? 'true' : 'false').transform((v) => v === 'true');
export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');
export const redisUrl = z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').default('redis://127.0.0.1:6379');
export const commaList = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));
export const jsonObject = z.string().transform((s, ctx) => {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be valid JSON' });
    return z.NEVER;
  }
});
/** Prefix of every Redis key (queues and registry); change it to share one Redis between deployments. */
export const keyPrefix = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (no ":" or braces)').default('pushfleet');

/**
 * Runs a process's configuration loading; on a ConfigError prints every problem and exits 78 (EX_CONFIG),
 * so a bad deployment fails at start-up with one clear message.
 */
export function loadConfigOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`pushfleet ${service}: ${e.message}\n`);
    process.exit(78);
  }
}

/** Reads a file named by an env variable; a missing or unreadable file is a ConfigError naming the variable. */
export function readConfigFile(variable: string, file: string): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('node:fs') as typeof import('node:fs')).readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${variable}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
}
