import { z } from 'zod';
import { commaList, durationMs, Env, flag, keyPrefix, logLevel, parseEnv, port, positiveInt, nonNegativeInt } from './env';
import { redisEnv } from './redis';

/** Every option with its default; README "Configuration" and docs/operations.md "Security" explain them. */
export const apiEnvSchema = z
  .object({
    /** Public listener: /api/push, /internal/events, /admin/queues, /healthz. */
    PORT: port(3000),
    HOST: z.string().default('0.0.0.0'),
    /** Ops listener: /metrics, /readyz, /healthz. Keep it off the public load balancer. */
    OPS_PORT: port(9100),
    OPS_HOST: z.string().default('0.0.0.0'),
    ...redisEnv,
    PUSHFLEET_PREFIX: keyPrefix,
    AUTH_JWT_SECRET: z.string().min(32, 'use at least 32 characters (256 bits) for an HS256 secret').optional(),
    AUTH_JWKS_URL: z.url().optional(),
    /** Required `iss` and `aud` of user JWTs; both must be set unless AUTH_ALLOW_ANY_ISSUER_AUDIENCE=true. */
    AUTH_JWT_ISSUER: z.string().optional(),
    AUTH_JWT_AUDIENCE: z.string().optional(),
    /** Development switch: accept user JWTs of any issuer and audience. Default false; never in production. */
    AUTH_ALLOW_ANY_ISSUER_AUDIENCE: flag(false),
    /** Oldest `iat` accepted and longest `exp - iat`, in seconds. Default 86400 (24 h). */
    AUTH_MAX_TOKEN_AGE_SECONDS: positiveInt(86_400),
    PUSH_APPS_FILE: z.string().optional(),
    GCM_SENDER_ID: z.string().default(''),
    MAX_TOKENS_PER_USER: positiveInt(50),
    /** Requests per user per minute on every user route (sliding window, all replicas); 0 = off. Default 120. */
    RATE_LIMIT_PER_MINUTE: nonNegativeInt(120),
    /** Failed authentications per client address per minute before 429; 0 = off. Default 30. */
    AUTH_FAILURES_PER_MINUTE: nonNegativeInt(30),
    /** Token moves (adding a token another user holds) per user per hour before 429; 0 = off. Default 10. */
    TOKEN_MOVES_PER_HOUR: nonNegativeInt(10),
    /**
     * Express `trust proxy`: which proxies' X-Forwarded-For to believe for the client address (the
     * auth-failure limit's key). `false` (default: the socket address), `true`, a hop count, or a comma
     * list of addresses/subnets (e.g. `10.0.0.0/8`). Set it behind a load balancer.
     */
    TRUST_PROXY: z.string().default('false'),
    /**
     * How long an event id given to /internal/events is deduplicated, from its first acceptance, whatever
     * the job retention and however many events arrive since (one small key per id and queue). Default 24h.
     */
    DEDUPE_TTL: durationMs('24h'),
    INTERNAL_API_TOKENS: commaList.pipe(z.array(z.string().min(16, 'internal API tokens need at least 16 characters'))).default([]),
    ADMIN_TOKENS: commaList.pipe(z.array(z.string().min(16, 'admin tokens need at least 16 characters'))).default([]),
    LOG_LEVEL: logLevel,
  })
  .superRefine((e, ctx) => {
    if (!e.AUTH_JWT_SECRET && !e.AUTH_JWKS_URL) {
      ctx.addIssue({ code: 'custom', path: ['AUTH_JWT_SECRET'], message: 'no user authentication configured: set AUTH_JWT_SECRET (HS256) and/or AUTH_JWKS_URL (RS256/ES256); the API refuses to start without it' });
    }
    if (e.AUTH_ALLOW_ANY_ISSUER_AUDIENCE) return;
    for (const v of ['AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE'] as const) {
      if (!e[v]) ctx.addIssue({ code: 'custom', path: [v], message: 'required: the iss/aud user JWTs must carry (AUTH_ALLOW_ANY_ISSUER_AUDIENCE=true lifts this, for development only)' });
    }
  }, { when: () => true }); // report these together with any other bad variable

export type ApiEnv = z.infer<typeof apiEnvSchema>;

export const loadApiEnv = (env: Env): ApiEnv => parseEnv(apiEnvSchema, env);

/** TRUST_PROXY as express's `trust proxy` setting takes it. */
export function trustProxySetting(value: string): boolean | number | string[] {
  if (value === 'true' || value === 'false') return value === 'true';
  if (/^[0-9]+$/.test(value)) return Number(value);
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}
