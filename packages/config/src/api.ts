import { z } from 'zod';
import { commaList, Env, keyPrefix, logLevel, parseEnv, port, positiveInt, nonNegativeInt, redisUrl } from './env';

export const apiEnvSchema = z
  .object({
    PORT: port(3000),
    HOST: z.string().default('0.0.0.0'),
    REDIS_URL: redisUrl,
    PUSHFLEET_PREFIX: keyPrefix,
    AUTH_JWT_SECRET: z.string().min(32, 'use at least 32 characters (256 bits) for an HS256 secret').optional(),
    AUTH_JWKS_URL: z.url().optional(),
    AUTH_JWT_ISSUER: z.string().optional(),
    AUTH_JWT_AUDIENCE: z.string().optional(),
    PUSH_APPS_FILE: z.string().optional(),
    GCM_SENDER_ID: z.string().default(''),
    MAX_TOKENS_PER_USER: positiveInt(50),
    RATE_LIMIT_PER_MINUTE: nonNegativeInt(120),
    INTERNAL_API_TOKENS: commaList.pipe(z.array(z.string().min(16, 'internal API tokens need at least 16 characters'))).default([]),
    ADMIN_TOKENS: commaList.pipe(z.array(z.string().min(16, 'admin tokens need at least 16 characters'))).default([]),
    LOG_LEVEL: logLevel,
  })
  .refine((e) => e.AUTH_JWT_SECRET || e.AUTH_JWKS_URL, {
    message: 'no user authentication configured: set AUTH_JWT_SECRET (HS256) and/or AUTH_JWKS_URL (RS256/ES256); the API refuses to start without it',
    path: ['AUTH_JWT_SECRET'],
    when: () => true, // report it together with any other bad variable
  });

export type ApiEnv = z.infer<typeof apiEnvSchema>;

export const loadApiEnv = (env: Env): ApiEnv => parseEnv(apiEnvSchema, env);
