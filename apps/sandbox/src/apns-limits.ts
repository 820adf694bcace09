import http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { ApnsEndpoint } from './apns';
import type { ApnsTokenAuth } from './credentials';
import type { DeviceTokens } from './devices';
import { goaway, goawayLastStreamId, NO_ERROR } from './goaway';
import type { Hard, TeamTokens } from './hard';
import type { Refusals } from './refusals';

/** The hard APNs behaviours: the stream limit until a valid provider token, team token updates, environments, idle GOAWAY. */
export interface ApnsLimitDeps {
  hard: Hard;
  refusals: Refusals;
  devices: DeviceTokens;
  teamTokens: TeamTokens;
}

/** `limited`: the connection started at the initial limit (its refusals count as streams-until-token). */
interface LimitState { limited: boolean; raised: boolean; nextStreamId: number }
const states = new WeakMap<http2.Http2Session, LimitState>();

/** The MAX_CONCURRENT_STREAMS a new connection starts with under the current settings. */
export function initialStreams(hard: Hard): number {
  const s = hard.settings;
  return s.apnsStreamsUntilToken ? s.apnsInitialStreams : s.apnsRaisedStreams;
}

/**
 * Picks each new connection's initial SETTINGS before its session starts: certificate connections (and
 * every connection while the rule is off) get the raised limit at once, token connections the initial one.
 */
export function chooseInitialStreams(server: http2.Http2SecureServer, hard: Hard): void {
  let current = initialStreams(hard);
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const next = certificateConnection(socket) ? hard.settings.apnsRaisedStreams : initialStreams(hard);
    if (next !== current) server.updateSettings({ maxConcurrentStreams: (current = next) });
  });
}

function certificateConnection(socket: TLSSocket): boolean {
  return socket.authorized && socket.getPeerCertificate().raw !== undefined;
}

/** A new connection: its stream-limit state and the idle timer. */
export function onApnsSession(session: http2.ServerHttp2Session, deps: ApnsLimitDeps, endpoint: ApnsEndpoint): void {
  const s = deps.hard.settings;
  const limited = s.apnsStreamsUntilToken && !certificateConnection(session.socket as TLSSocket);
  states.set(session, { limited, raised: !limited, nextStreamId: 1 });
  if (s.apnsIdleTimeoutMs > 0) {
    session.setTimeout(s.apnsIdleTimeoutMs, () => {
      deps.refusals.add({ rule: 'idle-timeout', system: 'apns', endpoint, status: 0, reason: 'IdleTimeout' });
      goaway(session, NO_ERROR, 'IdleTimeout');
    });
  }
}

/**
 * A new stream. The HTTP/2 layer refuses streams over the advertised limit itself (RST_STREAM
 * REFUSED_STREAM) and never shows them; they show as a gap in the client's stream ids, which are
 * consecutive odd numbers on the wire. Each skipped id is recorded as a refusal when the next stream
 * arrives: `streams-until-token` on a connection that started at the initial limit, else
 * `max-concurrent-streams`.
 */
export function onApnsStream(stream: http2.ServerHttp2Stream, deps: ApnsLimitDeps, endpoint: ApnsEndpoint): void {
  const state = states.get(stream.session as http2.ServerHttp2Session);
  const id = stream.id;
  if (state === undefined || id === undefined || goawayLastStreamId(stream.session as http2.ServerHttp2Session) !== undefined) return;
  for (let missing = state.nextStreamId; missing < id; missing += 2) {
    deps.refusals.add({ rule: state.limited ? 'streams-until-token' : 'max-concurrent-streams', system: 'apns', endpoint, status: 0, reason: 'REFUSED_STREAM' });
  }
  state.nextStreamId = Math.max(state.nextStreamId, id + 2);
}

/** After the first answer to a request with a valid provider token: new SETTINGS raise the limit. */
export function raiseStreamLimit(session: http2.Http2Session | undefined, deps: ApnsLimitDeps): void {
  const state = session === undefined ? undefined : states.get(session);
  if (session === undefined || state === undefined || state.raised || session.destroyed) return;
  state.raised = true;
  session.settings({ maxConcurrentStreams: deps.hard.settings.apnsRaisedStreams });
}

/** Provider-token refusals: the APNs reason to answer (403/429), or undefined when the token may be used. */
export function providerTokenRefusal(auth: ApnsTokenAuth | string, deps: ApnsLimitDeps, endpoint: ApnsEndpoint): string | undefined {
  if (typeof auth === 'string') {
    if (auth === 'ExpiredProviderToken') deps.refusals.add({ rule: 'provider-token-expired', system: 'apns', endpoint, status: 403, reason: auth });
    else if (auth === 'InvalidProviderToken') deps.refusals.add({ rule: 'provider-token-invalid', system: 'apns', endpoint, status: 403, reason: auth });
    return auth;
  }
  const s = deps.hard.settings;
  if (s.apnsTeamTokenUpdates && !deps.teamTokens.accept(auth.teamId, auth.iat, s.apnsTokenUpdateIntervalSeconds * 1000, s.apnsProviderTokenMaxAgeSeconds * 1000)) {
    deps.refusals.add({ rule: 'provider-token-updates', system: 'apns', endpoint, status: 429, reason: 'TooManyProviderTokenUpdates', subject: auth.teamId });
    return 'TooManyProviderTokenUpdates';
  }
  return undefined;
}

/** A device token issued for the other environment: BadDeviceToken, as Apple answers. */
export function environmentRefusal(token: string, deps: ApnsLimitDeps, endpoint: ApnsEndpoint): string | undefined {
  if (!deps.hard.settings.apnsEnvironments) return undefined;
  const env = deps.devices.apnsEnvironment(token);
  if (env === undefined || env === endpoint) return undefined;
  deps.refusals.add({ rule: 'environment', system: 'apns', endpoint, status: 400, reason: 'BadDeviceToken', subject: token });
  return 'BadDeviceToken';
}
