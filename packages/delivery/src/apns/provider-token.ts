import { KeyObject, sign } from 'node:crypto';

const b64url = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * The APNs provider token (an ES256 JWT: header {alg, kid}, claims {iss: team id, iat}), signed with
 * node:crypto from a key loaded by `loadApnsSigningKey`. `generation` counts re-signings, so hundreds of
 * requests that failed with the same stale token re-sign it once (see ApnsEndpoint.refreshAfterExpired).
 */
export class ProviderToken {
  generation = 0;
  current: string;
  private iat = 0;

  constructor(private readonly key: KeyObject, private readonly keyId: string, private readonly teamId: string, private readonly now = () => Date.now()) {
    this.current = this.sign();
  }

  private sign(): string {
    this.iat = Math.floor(this.now() / 1000);
    const input = `${b64url({ alg: 'ES256', kid: this.keyId })}.${b64url({ iss: this.teamId, iat: this.iat })}`;
    // JWS wants the raw r||s signature (IEEE P1363), not node's default DER.
    const signature = sign('sha256', Buffer.from(input), { key: this.key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }

  /** Re-signs, unless another caller already did for this generation. */
  regenerate(generation: number): void {
    if (generation !== this.generation) return;
    this.generation++;
    this.current = this.sign();
  }

  isExpired(validSeconds: number): boolean {
    return Math.floor(this.now() / 1000) - this.iat >= validSeconds;
  }
}
