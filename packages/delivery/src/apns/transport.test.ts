import crypto from 'node:crypto';
import { Registry } from 'prom-client';
import type { ApnsApp } from '@pushfleet/config';
import { DEFAULT_POLICIES, PushEvent } from '@pushfleet/events';
import type { ApnsDevice } from '@pushfleet/registry';
import { issueClientCertificate, Sandbox, startSandbox } from '../../../../apps/sandbox/src/index';
import { createDeliveryMetrics } from '../metrics';
import { ApnsTransport } from './transport';

// Certificate apps: credentials checked with node:crypto (not node-apn), environment read from the certificate.
const APP = '39JSDKGJ38.de.cospace.app';
const event: PushEvent = { message: 'recording_new', owner: crypto.randomUUID(), recording: crypto.randomUUID(), phone: '123' };
const device = (tag: string, sandbox: boolean): ApnsDevice => ({ token: crypto.createHash('sha256').update(tag).digest('hex'), app: APP, sandbox, registeredAt: 0 });

let sandbox: Sandbox;
const transports: ApnsTransport[] = [];
beforeAll(async () => { sandbox = await startSandbox({}); });
afterAll(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await sandbox.close();
});

function transport(environments?: ('production' | 'development')[]): ApnsTransport {
  const cert = issueClientCertificate(sandbox, { topic: 'de.cospace.app', environments });
  const app: ApnsApp = { applicationId: APP, bundleId: 'de.cospace.app', credentials: { kind: 'certificate', ...cert, certFile: '/etc/apns/cert.pem' } };
  const t = new ApnsTransport({
    apps: new Map([[APP, app]]), productionUrl: sandbox.apns.productionUrl, sandboxUrl: sandbox.apns.developmentUrl, ca: sandbox.caPem,
    connectionsPerEndpoint: 1, maxInflightPerConnection: 10, requestTimeoutMs: 5000, metrics: createDeliveryMetrics(new Registry()),
  });
  transports.push(t);
  return t;
}

const ctx = { policy: DEFAULT_POLICIES.recording_new, expiresAt: Date.now() + 60_000 };

it('delivers with a client certificate to both environments it covers', async () => {
  const out = await transport().send(event, [device('prod', false), device('dev', true)], ctx);
  expect(out.map((o) => [o.action, o.reason])).toEqual([['delivered', 'Success'], ['delivered', 'Success']]);
  expect(sandbox.recorder.deliveries({ token: device('prod', false).token })[0].headers.authorization).toBeUndefined();
});

it('a development-only certificate fails production devices as BadCertificateEnvironment without sending', async () => {
  const out = await transport(['development']).send(event, [device('prod-only-dev', false)], ctx);
  expect(out.map((o) => [o.action, o.reason])).toEqual([['fail', 'BadCertificateEnvironment']]);
  expect(sandbox.recorder.deliveries({ token: device('prod-only-dev', false).token })).toEqual([]);
});
