// HTTP clients of the bench: events posted to /internal/events as a backend would (node:http, one
// keep-alive agent), closed-loop (a fixed number of requests outstanding) or open-loop (paced at a rate,
// whatever the answers do).
import http from 'node:http';

export interface PostTarget { url: string; token: string }

export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

/** POSTs one JSON body; resolves with the status and the parsed answer (undefined when not JSON). */
export function postJson(agent: http.Agent, t: PostTarget, body: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(t.url, {
      method: 'POST', agent,
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; }).on('end', () => {
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error('request timed out after 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

export interface LoadResult { requests: number; ok: number; failed: number; seconds: number; firstFailure: string }

/** Sends every body with `concurrency` requests outstanding; `ok` counts 202 answers. */
export async function closedLoop(agent: http.Agent, t: PostTarget, bodies: readonly string[], concurrency: number): Promise<LoadResult> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstFailure = '';
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, async () => {
    while (next < bodies.length) {
      const r = await postJson(agent, t, bodies[next++]).catch((e: Error) => ({ status: 0, json: e.message }));
      if (r.status === 202) ok++;
      else { failed++; firstFailure ||= `${r.status} ${JSON.stringify(r.json).slice(0, 200)}`; }
    }
  }));
  return { requests: bodies.length, ok, failed, seconds: (performance.now() - t0) / 1000, firstFailure };
}

/**
 * Open loop: body i is sent at t0 + i/rate (late ticks send what is due at once), `onSend(i, now)` just
 * before; resolves when every answer is in, with the rate achieved in sending.
 */
export async function openLoop(agent: http.Agent, t: PostTarget, bodies: readonly string[], rate: number, onSend: (i: number, now: number) => void): Promise<LoadResult & { achievedRate: number }> {
  const pending: Promise<void>[] = [];
  let ok = 0;
  let failed = 0;
  let firstFailure = '';
  let sent = 0;
  const t0 = performance.now();
  while (sent < bodies.length) {
    const due = Math.min(bodies.length, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    for (; sent < due; sent++) {
      onSend(sent, performance.now());
      pending.push(postJson(agent, t, bodies[sent]).then((r) => {
        if (r.status === 202) ok++;
        else { failed++; firstFailure ||= `${r.status} ${JSON.stringify(r.json).slice(0, 200)}`; }
      }, (e: Error) => { failed++; firstFailure ||= e.message; }));
    }
    await new Promise<void>((r) => setTimeout(r, 1));
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  await Promise.all(pending);
  return { requests: bodies.length, ok, failed, seconds: (performance.now() - t0) / 1000, firstFailure, achievedRate: Math.round(bodies.length / sendSeconds) };
}
