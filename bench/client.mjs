// The load generator as a process of its own, as a fleet of browsers is to a server: started by bench/run.ts
// (child_process.fork, plain node), it runs one autocannon measurement per message and answers with its figures
// and every request's latency. A message: { url, connections, duration, method, headers, body?, connectionHeaders? }
// (connectionHeaders: each connection takes the next, e.g. a student of its own).
import autocannon from 'autocannon';

process.on('message', (m) => {
  const latencies = [];
  const statuses = {};
  let next = 0;
  const { connectionHeaders: each, ...options } = m;
  const instance = autocannon(
    { ...options, ...(each ? { setupClient: (client) => client.setHeaders(each[next++ % each.length]) } : {}) },
    (err, r) => {
      if (err) process.send({ error: String(err.stack ?? err) });
      else process.send({ requests: r.requests.total, average: r.requests.average, seconds: r.duration, non2xx: r.non2xx, errors: r.errors + r.timeouts, statuses, latencies });
    },
  );
  instance.on('response', (_client, status, _bytes, ms) => {
    latencies.push(ms);
    statuses[status] = (statuses[status] ?? 0) + 1;
  });
});
// bench/run.ts ended (or was killed): nothing more to measure.
process.on('disconnect', () => process.exit(0));
