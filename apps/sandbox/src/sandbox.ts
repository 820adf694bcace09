import fs from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino, { Logger } from 'pino';
import { createAdminServer } from './admin';
import { createApnsServer } from './apns';
import { BehaviourRule, Behaviours } from './behaviours';
import { ApnsKeyRegistration, Credentials, FcmServiceAccountRegistration } from './credentials';
import { DeviceTokens } from './devices';
import { createGoogleServer } from './google';
import { Hard, HardUpdate, RateWindows, TeamTokens } from './hard';
import { ClientCertificateOptions, issueClientCertificateWithCa, loadOrCreatePki } from './pki';
import { Recorder } from './recorder';
import { Refusals } from './refusals';

export interface SandboxOptions {
  /** Interface the APNs and Google servers listen on (default 127.0.0.1). The admin API always uses 127.0.0.1. */
  host?: string;
  /** Ports; 0 (the default) picks a free one. */
  apnsProductionPort?: number;
  apnsDevelopmentPort?: number;
  googlePort?: number;
  adminPort?: number;
  /** Where ca.pem, ca-key.pem, server.pem and server-key.pem are loaded from / written to (default: a fresh temp dir, removed on close). */
  dataDir?: string;
  /** Extra host names / IPs for the server certificate (always: localhost, 127.0.0.1, ::1, and `host` when specific). */
  serverNames?: string[];
  /** APNs signing keys whose provider tokens are accepted. */
  apnsKeys?: ApnsKeyRegistration[];
  /** Legacy server keys accepted in `Authorization: key=...`; with a projectId, other projects' tokens answer MismatchSenderId. */
  gcmApiKeys?: (string | { key: string; projectId: string })[];
  /** Service accounts whose OAuth2 grants the token endpoint accepts. */
  fcmServiceAccounts?: FcmServiceAccountRegistration[];
  /** Accept any well-formed provider token / server key / grant assertion, known or not (standalone dev use). */
  acceptAnyApnsKey?: boolean;
  acceptAnyGcmApiKey?: boolean;
  acceptAnyServiceAccount?: boolean;
  /** Lifetime of granted OAuth2 access tokens in seconds (default 3600; same as `hard.fcmAccessTokenTtlSeconds`). */
  fcmAccessTokenTtlSeconds?: number;
  /** How hard the sandbox is (see README "Hard behaviours"): any subset of the settings; `hard.strict` switches every strict rule. */
  hard?: HardUpdate;
  /** Turn on every rule the fleet cannot survive yet (`apnsStreamsUntilToken`, `apnsTeamTokenUpdates`). Default false. */
  strict?: boolean;
  /** Keep recorded requests in memory (default true). Counts are kept either way. */
  record?: boolean;
  /** How many recorded requests to keep (default 100000; the oldest are dropped). */
  recordLimit?: number;
  /** Behaviour rules to start with. */
  behaviours?: BehaviourRule[];
  /** Default: silent. */
  logger?: Logger;
}

export interface Sandbox {
  /** Path of the CA certificate clients must trust (`<dataDir>/ca.pem`), and its PEM. */
  caFile: string;
  caPem: string;
  dataDir: string;
  apns: { productionUrl: string; developmentUrl: string; productionPort: number; developmentPort: number };
  google: {
    /** Legacy HTTP endpoint (plain HTTP; the same port also answers https://). */
    legacyUrl: string;
    /** FCM v1 base URL (HTTPS, HTTP/2 or HTTP/1.1): POST `${fcmBaseUrl}/v1/projects/<id>/messages:send`. */
    fcmBaseUrl: string;
    /** OAuth2 token endpoint (use as the service account's token_uri and the grant's `aud`). */
    tokenUri: string;
    port: number;
  };
  adminUrl: string;
  recorder: Recorder;
  behaviours: Behaviours;
  credentials: Credentials;
  /** The hard behaviours' live settings (`hard.set({...})` per test). */
  hard: Hard;
  /** What the hard behaviours refused, and why. */
  refusals: Refusals;
  /** Device tokens issued per APNs environment and FCM project. */
  devices: DeviceTokens;
  /** Forgets recorded requests, counts, behaviours and refusals, and restores the starting hard settings (credentials and device tokens stay). */
  reset(): void;
  close(): Promise<void>;
}

const caKeys = new WeakMap<Sandbox, { caCertPem: string; caKeyPem: string }>();

/** Issues an APNs client certificate (certificate-based provider auth) signed by this sandbox's CA. */
export function issueClientCertificate(sandbox: Sandbox, opts: ClientCertificateOptions): { certPem: string; keyPem: string } {
  const ca = caKeys.get(sandbox);
  if (!ca) throw new Error('not a sandbox started by startSandbox()');
  return issueClientCertificateWithCa(ca.caCertPem, ca.caKeyPem, opts);
}

function listen(server: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Tracks raw connections so close() can cut them (HTTP/2 sessions and keep-alive sockets included). */
function track(server: net.Server): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return sockets;
}

function urlHost(host: string): string {
  if (['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost', ''].includes(host)) return 'localhost';
  return net.isIPv6(host) ? `[${host}]` : host;
}

/** The hard behaviours' state, wired to the credentials; `forget` is what reset() does. */
function hardState(opts: SandboxOptions, credentials: Credentials, recorder: Recorder, behaviours: Behaviours) {
  const hard = new Hard({
    ...(opts.fcmAccessTokenTtlSeconds !== undefined ? { fcmAccessTokenTtlSeconds: opts.fcmAccessTokenTtlSeconds } : {}),
    ...(opts.strict !== undefined ? { strict: opts.strict } : {}),
    ...opts.hard,
  });
  const applyHard = (): void => {
    credentials.providerTokenMaxAgeSeconds = hard.settings.apnsProviderTokenMaxAgeSeconds;
    credentials.accessTokenTtlSeconds = hard.settings.fcmAccessTokenTtlSeconds;
  };
  applyHard();
  hard.on('change', applyHard);
  const refusals = new Refusals();
  const devices = new DeviceTokens();
  const teamTokens = new TeamTokens();
  const rates = new RateWindows();
  const forget = (): void => {
    recorder.clear();
    behaviours.clear();
    refusals.clear();
    teamTokens.clear();
    rates.clear();
    hard.restore();
  };
  return { hard, refusals, devices, teamTokens, rates, forget };
}

/** Starts the APNs (production + development), Google and admin servers. */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const host = opts.host ?? '127.0.0.1';
  const logger = opts.logger ?? pino({ level: 'silent' });
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pushfleet-sandbox-'));
  const names = ['localhost', '127.0.0.1', '::1', ...(opts.serverNames ?? [])];
  if (!['0.0.0.0', '::', ''].includes(host) && !names.includes(host)) names.push(host);
  const pki = loadOrCreatePki(dataDir, names, { reuseGenerated: ownDir });

  const recorder = new Recorder(opts.recordLimit ?? 100_000, opts.record ?? true);
  const behaviours = new Behaviours();
  for (const r of opts.behaviours ?? []) behaviours.set(r);
  const credentials = new Credentials({
    acceptAnyApnsKey: opts.acceptAnyApnsKey,
    acceptAnyGcmApiKey: opts.acceptAnyGcmApiKey,
    acceptAnyServiceAccount: opts.acceptAnyServiceAccount,
    accessTokenTtlSeconds: opts.fcmAccessTokenTtlSeconds,
  });
  for (const k of opts.apnsKeys ?? []) credentials.addApnsKey(k);
  for (const k of opts.gcmApiKeys ?? []) {
    if (typeof k === 'string') credentials.addGcmApiKey(k);
    else credentials.addGcmApiKey(k.key, k.projectId);
  }
  const { hard, refusals, devices, teamTokens, rates, forget } = hardState(opts, credentials, recorder, behaviours);
  for (const s of opts.fcmServiceAccounts ?? []) credentials.addFcmServiceAccount(s);

  const deps = { credentials, recorder, behaviours, logger, hard, refusals, devices, teamTokens, rates };
  const tls = { key: pki.serverKeyPem, cert: pki.serverCertPem, ca: pki.caCertPem };
  const production = createApnsServer(deps, 'production', tls);
  const development = createApnsServer(deps, 'development', tls);
  const google = createGoogleServer(deps, tls);
  const admin = createAdminServer({ recorder, behaviours, credentials, hard, refusals, devices, reset: forget, caCertPem: pki.caCertPem, caKeyPem: pki.caKeyPem });
  const servers: net.Server[] = [production, development, google.server, admin];
  const sockets = servers.map(track);

  const closeAll = async (): Promise<void> => {
    google.closeConnections();
    for (const set of sockets) for (const s of set) s.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
    (admin as http.Server).closeAllConnections?.();
    if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
  };

  let ports: number[];
  try {
    ports = [
      await listen(production, opts.apnsProductionPort ?? 0, host),
      await listen(development, opts.apnsDevelopmentPort ?? 0, host),
      await listen(google.server, opts.googlePort ?? 0, host),
      await listen(admin, opts.adminPort ?? 0, '127.0.0.1'),
    ];
  } catch (err) {
    await closeAll();
    throw err;
  }
  const [prodPort, devPort, googlePort, adminPort] = ports;
  const h = urlHost(host);
  const tokenUri = `https://${h}:${googlePort}/token`;
  credentials.tokenUri = tokenUri;
  // Also the names it serves under (compose: https://sandbox:4443/token is the service account's token_uri).
  for (const n of new Set([h, 'localhost', '127.0.0.1', '[::1]', ...(opts.serverNames ?? []).map(urlHost)])) {
    credentials.tokenAudiences.add(`https://${n}:${googlePort}/token`);
    credentials.tokenAudiences.add(`http://${n}:${googlePort}/token`);
  }

  let closed: Promise<void> | undefined;
  const sandbox: Sandbox = {
    caFile: pki.caFile,
    caPem: pki.caCertPem,
    dataDir,
    apns: {
      productionUrl: `https://${h}:${prodPort}`,
      developmentUrl: `https://${h}:${devPort}`,
      productionPort: prodPort,
      developmentPort: devPort,
    },
    google: {
      legacyUrl: `http://${h}:${googlePort}/fcm/send`,
      fcmBaseUrl: `https://${h}:${googlePort}`,
      tokenUri,
      port: googlePort,
    },
    adminUrl: `http://127.0.0.1:${adminPort}`,
    recorder,
    behaviours,
    credentials,
    hard,
    refusals,
    devices,
    reset: forget,
    close() {
      closed ??= closeAll();
      return closed;
    },
  };
  caKeys.set(sandbox, { caCertPem: pki.caCertPem, caKeyPem: pki.caKeyPem });
  logger.info({
    apnsProduction: sandbox.apns.productionUrl, apnsDevelopment: sandbox.apns.developmentUrl, googleLegacy: sandbox.google.legacyUrl,
    fcmBase: sandbox.google.fcmBaseUrl, tokenUri, admin: sandbox.adminUrl, caFile: sandbox.caFile,
  }, 'sandbox listening');
  return sandbox;
}
