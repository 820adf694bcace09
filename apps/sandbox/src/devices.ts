import crypto from 'node:crypto';
import type { ApnsEndpoint } from './apns';

/**
 * Device tokens the sandbox issued or was told about: an APNs token belongs to one environment, an FCM
 * registration token to one project. Tokens it knows nothing about are not checked.
 */
export class DeviceTokens {
  private apns = new Map<string, ApnsEndpoint>();
  private fcm = new Map<string, string>();

  /** Issues (or registers `token` as) an APNs device token of `environment`: 64 hex characters, as iOS makes them. */
  issueApnsToken(environment: ApnsEndpoint, token = crypto.randomBytes(32).toString('hex')): string {
    this.apns.set(token.toLowerCase(), environment);
    return token;
  }

  /** Issues (or registers `token` as) an FCM registration token of `projectId`. */
  issueFcmToken(projectId: string, token = `${crypto.randomBytes(11).toString('base64url')}:APA91b${crypto.randomBytes(102).toString('base64url')}`): string {
    this.fcm.set(token, projectId);
    return token;
  }

  apnsEnvironment(token: string): ApnsEndpoint | undefined {
    return this.apns.size === 0 ? undefined : this.apns.get(token.toLowerCase());
  }

  fcmProject(token: string): string | undefined {
    return this.fcm.size === 0 ? undefined : this.fcm.get(token);
  }

  counts(): { apns: number; fcm: number } {
    return { apns: this.apns.size, fcm: this.fcm.size };
  }

  clear(): void {
    this.apns.clear();
    this.fcm.clear();
  }
}
