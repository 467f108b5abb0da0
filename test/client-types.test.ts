/**
 * The client's types say what the server sends: client/replies.ts is generated from the server's reply schemas
 * (schemas/*.ts) by scripts/client-types.ts, and must be what the script makes of them today; the client's own types
 * built on them (with `pending`) are checked against the schemas by the type checker (`npm run typecheck`).
 */
import { readFile } from 'node:fs/promises';
import t from 'tap';
import Type, { type Static } from 'typebox';
import type * as Client from '../client/types.js';
import type * as Auth from '../schemas/auth.js';
import type * as Work from '../schemas/work.js';
import { clientTypes, repliesFile } from '../scripts/client-types.js';

t.test('client/replies.ts is what scripts/client-types.ts makes of the reply schemas (else run npm run client-types)', async (t) => {
  t.equal(await readFile(repliesFile, 'utf8'), clientTypes());
});

t.test('a reply type is written from its schema: nullable, optional, nested and named types, literal unions, descriptions as doc comments', async (t) => {
  const Item = Type.Object({ n: Type.Integer() }, { description: 'an item' });
  const Reply = Type.Object({
    kind: Type.Union([Type.Literal('a'), Type.Literal("b'c")]),
    note: Type.Optional(Type.Union([Type.String({ description: 'a note' }), Type.Null()])),
    items: Type.Array(Item),
    byId: Type.Record(Type.String(), Type.Object({ ok: Type.Boolean(), data: Type.Unknown() })),
  });
  t.equal(
    clientTypes({ Item, Reply }, { Size: ['s', 'm'] }).split('\n').slice(2).join('\n'),
    `
export type Size = 's' | 'm';

/** an item */
export interface Item {
  n: number;
}

export interface Reply {
  kind: 'a' | 'b\\'c';
  /** a note */
  note?: string | null;
  items: Item[];
  byId: Record<string, {
    ok: boolean;
    data: unknown;
  }>;
}
`,
  );
});

t.test('a schema the script cannot write as a type fails it, naming the keyword', async (t) => {
  const Both = Type.Intersect([Type.Object({ a: Type.String() }), Type.Object({ b: Type.String() })]);
  t.throws(() => clientTypes({ Reply: Type.Object({ both: Both }) }), { message: /cannot write the keyword "allOf"/ });
});

/** `true` when A and B accept the same values. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Saved<T> = Omit<T, 'pending'>;

// The client's types that add `pending` to a reply, or hold such types: without it, the reply's schema.
const checks: { [name: string]: true } = {
  Program: true satisfies Same<Saved<Client.Program>, Static<typeof Work.Program>>,
  Answer: true satisfies Same<Saved<Client.Answer>, Static<typeof Work.Answer>>,
  LatestAnswer: true satisfies Same<{ latest: Saved<Client.Answer>; attempts: number }, Static<typeof Work.LatestAnswer>>,
  PageState: true satisfies Same<
    { programs: Record<string, Saved<Client.Program>>; answers: Record<string, { latest: Saved<Client.Answer>; attempts: number }>; completedAt: string | null },
    Static<typeof Work.PageState>
  >,
  Position: true satisfies Same<Saved<Client.Position>, Static<typeof Work.Position>>,
  User: true satisfies Same<Client.User, Static<typeof Auth.User>>,
  PersonalData: true satisfies Same<Client.PersonalData, Static<typeof Auth.PersonalData>>,
};

t.test('the client\'s types built on the replies match the server schemas (checked by the type checker)', async (t) => {
  t.equal(Object.keys(checks).length, 7);
});
