import crypto from 'node:crypto';
import { z } from 'zod';
import type { ApnsKeyRegistration, FcmServiceAccountRegistration } from './credentials';

/**
 * Input shapes for registering credentials from outside the process (admin API, env files). Both accept
 * either the public key or the private one (from which the public key is derived), so a developer can
 * point the sandbox at the very `.p8` / service-account file the gateway uses.
 */

function publicPem(pem: string): string {
  return crypto.createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
}

export const apnsKeyInputSchema = z
  .object({
    keyId: z.string().min(1),
    teamId: z.string().min(1),
    publicKeyPem: z.string().includes('-----BEGIN').optional(),
    privateKeyPem: z.string().includes('-----BEGIN').optional(),
    topics: z.array(z.string().min(1)).optional(),
  })
  .refine((k) => k.publicKeyPem !== undefined || k.privateKeyPem !== undefined, { message: 'publicKeyPem or privateKeyPem is required' });

export type ApnsKeyInput = z.input<typeof apnsKeyInputSchema>;

export function toApnsKeyRegistration(input: z.output<typeof apnsKeyInputSchema>): ApnsKeyRegistration {
  const pem = input.publicKeyPem ?? publicPem(input.privateKeyPem as string);
  return { keyId: input.keyId, teamId: input.teamId, publicKeyPem: pem, ...(input.topics ? { topics: input.topics } : {}) };
}

const registrationShape = z.object({
  clientEmail: z.string().min(1),
  publicKeyPem: z.string().includes('-----BEGIN'),
  projectId: z.string().min(1),
});

/** A Google service-account key file (the fields that matter). */
const googleFileShape = z.object({
  client_email: z.string().min(1),
  private_key: z.string().includes('-----BEGIN'),
  project_id: z.string().min(1),
});

export const serviceAccountInputSchema = z.union([registrationShape, googleFileShape]);

export function toServiceAccountRegistration(input: z.output<typeof serviceAccountInputSchema>): FcmServiceAccountRegistration {
  if ('clientEmail' in input) return { clientEmail: input.clientEmail, publicKeyPem: input.publicKeyPem, projectId: input.projectId };
  return { clientEmail: input.client_email, publicKeyPem: publicPem(input.private_key), projectId: input.project_id };
}
