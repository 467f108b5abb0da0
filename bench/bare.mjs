// The ceiling as a process of its own: a bare Fastify GET route returning a small JSON object, no logger (the same
// route as bench/run.ts's in-process ceiling). Started by bench/run.ts: node bench/bare.mjs PORT (on 127.0.0.1).
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/ceiling', async () => ({ hello: 'world', n: 1 }));
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2]) });
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void app.close().then(() => process.exit(0)));
