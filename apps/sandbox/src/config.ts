import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { behaviourRuleSchema } from './behaviours';
import { hardUpdateSchema } from './hard';
import { apnsKeyInputSchema, serviceAccountInputSchema, toApnsKeyRegistration, toServiceAccountRegistration } from './registration';
import type { SandboxOptions } from './sandbox';

/** The standalone sandbox's environment (the only place that reads process.env). See README "Running it". */
const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);
const flag = (def: boolean) => z.enum(['0', '1', 'true', 'false']).default(def ? '1' : '0').transform((v) => v === '1' || v === 'true');
const list = z.string().default('').transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

const envSchema = z.object({
  SANDBOX_HOST: z.string().min(1).default('127.0.0.1'),
  SANDBOX_APNS_PRODUCTION_PORT: port(2197),
  SANDBOX_APNS_DEVELOPMENT_PORT: port(2198),
  SANDBOX_GOOGLE_PORT: port(4443),
  SANDBOX_ADMIN_PORT: port(4000),
  SANDBOX_DATA_DIR: z.string().min(1).default('./.pushfleet/sandbox'),
  SANDBOX_SERVER_NAMES: list,
  SANDBOX_APNS_KEYS_FILE: z.string().min(1).optional(),
  SANDBOX_GCM_API_KEYS: list,
  SANDBOX_FCM_SERVICE_ACCOUNTS_FILE: z.string().min(1).optional(),
  SANDBOX_BEHAVIOURS_FILE: z.string().min(1).optional(),
  SANDBOX_ACCEPT_ANY_KEY: flag(false),
  SANDBOX_FCM_TOKEN_TTL_SECONDS: z.coerce.number().int().min(0).default(3600),
  SANDBOX_STRICT: flag(true),
  SANDBOX_HARD: z.string().optional().transform((v, ctx) => {
    if (v === undefined || v.trim() === '') return {};
    try {
      return hardUpdateSchema.parse(JSON.parse(v));
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a JSON object of hard settings: ${err instanceof Error ? err.message : String(err)}` });
      return z.NEVER;
    }
  }),
  SANDBOX_RECORD: flag(true),
  SANDBOX_RECORD_LIMIT: z.coerce.number().int().min(0).default(100_000),
  SANDBOX_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface SandboxConfig {
  options: Omit<SandboxOptions, 'logger'>;
  logLevel: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid sandbox configuration:\n  ${problems.join('\n  ')}`);
  }
}

function readJsonFile(name: string, file: string, problems: string[]): unknown {
  try {
    return JSON.parse(fs.readFileSync(path.resolve(file), 'utf8'));
  } catch (err) {
    problems.push(`${name}: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

function parseFile<T>(name: string, file: string | undefined, schema: z.ZodType<T>, problems: string[]): T[] {
  if (file === undefined) return [];
  const raw = readJsonFile(name, file, problems);
  if (raw === undefined) return [];
  const r = z.array(schema).safeParse(Array.isArray(raw) ? raw : [raw]);
  if (!r.success) {
    for (const i of r.error.issues) problems.push(`${name} (${file}) ${i.path.join('.')}: ${i.message}`);
    return [];
  }
  return r.data;
}

/** Parses the environment once; throws a ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): SandboxConfig {
  const problems: string[] = [];
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const i of parsed.error.issues) problems.push(`${i.path.join('.')}: ${i.message}`);
    // Still check the files, so every problem is reported at once.
    parseFile('SANDBOX_APNS_KEYS_FILE', env.SANDBOX_APNS_KEYS_FILE, apnsKeyInputSchema, problems);
    parseFile('SANDBOX_FCM_SERVICE_ACCOUNTS_FILE', env.SANDBOX_FCM_SERVICE_ACCOUNTS_FILE, serviceAccountInputSchema, problems);
    parseFile('SANDBOX_BEHAVIOURS_FILE', env.SANDBOX_BEHAVIOURS_FILE, behaviourRuleSchema, problems);
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const apnsKeys = parseFile('SANDBOX_APNS_KEYS_FILE', e.SANDBOX_APNS_KEYS_FILE, apnsKeyInputSchema, problems);
  const accounts = parseFile('SANDBOX_FCM_SERVICE_ACCOUNTS_FILE', e.SANDBOX_FCM_SERVICE_ACCOUNTS_FILE, serviceAccountInputSchema, problems);
  const behaviours = parseFile('SANDBOX_BEHAVIOURS_FILE', e.SANDBOX_BEHAVIOURS_FILE, behaviourRuleSchema, problems);
  let options: SandboxConfig['options'] | undefined;
  try {
    options = {
      host: e.SANDBOX_HOST,
      apnsProductionPort: e.SANDBOX_APNS_PRODUCTION_PORT,
      apnsDevelopmentPort: e.SANDBOX_APNS_DEVELOPMENT_PORT,
      googlePort: e.SANDBOX_GOOGLE_PORT,
      adminPort: e.SANDBOX_ADMIN_PORT,
      dataDir: path.resolve(e.SANDBOX_DATA_DIR),
      serverNames: e.SANDBOX_SERVER_NAMES,
      apnsKeys: apnsKeys.map(toApnsKeyRegistration),
      gcmApiKeys: e.SANDBOX_GCM_API_KEYS,
      fcmServiceAccounts: accounts.map(toServiceAccountRegistration),
      acceptAnyApnsKey: e.SANDBOX_ACCEPT_ANY_KEY,
      acceptAnyGcmApiKey: e.SANDBOX_ACCEPT_ANY_KEY,
      acceptAnyServiceAccount: e.SANDBOX_ACCEPT_ANY_KEY,
      fcmAccessTokenTtlSeconds: e.SANDBOX_FCM_TOKEN_TTL_SECONDS,
      strict: e.SANDBOX_STRICT,
      hard: e.SANDBOX_HARD,
      record: e.SANDBOX_RECORD,
      recordLimit: e.SANDBOX_RECORD_LIMIT,
      behaviours,
    };
  } catch (err) {
    problems.push(`a key in SANDBOX_APNS_KEYS_FILE or SANDBOX_FCM_SERVICE_ACCOUNTS_FILE is not a valid PEM key: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (problems.length > 0 || options === undefined) throw new ConfigError(problems);
  return { options, logLevel: e.SANDBOX_LOG_LEVEL };
}
