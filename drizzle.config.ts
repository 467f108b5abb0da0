import { defineConfig } from 'drizzle-kit';

// Only for generating migrations: `npm run db:generate`. The app applies them itself (`folio migrate`).
export default defineConfig({
  dialect: 'sqlite',
  schema: './db/schema.ts',
  out: './db/migrations/sqlite',
});
