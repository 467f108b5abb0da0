import { defineConfig } from 'drizzle-kit';

// Only for generating migrations: `npm run db:generate` (both dialects: db/schema.ts and db/schema.pg.ts). The app applies them itself (`folio migrate`).
const dialect = process.env.FOLIO_DRIZZLE_DIALECT === 'postgres' ? 'postgresql' : 'sqlite';
export default defineConfig(
  dialect === 'postgresql'
    ? { dialect, schema: './db/schema.pg.ts', out: './db/migrations/postgres' }
    : { dialect, schema: './db/schema.ts', out: './db/migrations/sqlite' },
);
