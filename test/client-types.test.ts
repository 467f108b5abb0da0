/**
 * The client's types say what the server sends: each reply type of client/types.ts and the server's schema
 * (schemas/*.ts) accept the same values. Checked by the type checker (`npm run typecheck`); a mismatch fails it.
 */
import t from 'tap';
import type { Static } from 'typebox';
import type * as Client from '../client/types.js';
import type * as Auth from '../schemas/auth.js';
import type * as Work from '../schemas/work.js';

/** `true` when A and B accept the same values. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Saved<T> = Omit<T, 'pending'>;

const checks: { [name: string]: true } = {
  User: true satisfies Same<Client.User, Static<typeof Auth.User>>,
  Program: true satisfies Same<Saved<Client.Program>, Static<typeof Work.Program>>,
  ProgramHistory: true satisfies Same<{ versions: Saved<Client.Program>[]; next: number | null }, Static<typeof Work.History>>,
  Answer: true satisfies Same<Saved<Client.Answer>, Static<typeof Work.Answer>>,
  Position: true satisfies Same<Saved<Client.Position>, Static<typeof Work.Position>>,
  Progress: true satisfies Same<Client.Progress, Static<typeof Work.Progress>>,
  Saved: true satisfies Same<Client.Saved, Static<typeof Work.Saved>>,
  Attempted: true satisfies Same<Client.Attempted, Static<typeof Work.Attempted>>,
  Completion: true satisfies Same<Client.Completion, Static<typeof Work.Completion>>,
  Accepted: true satisfies Same<Client.Accepted, Static<typeof Work.Accepted>>,
  AnswerKind: true satisfies Same<Client.AnswerKind, Work.AnswerKind>,
  PersonalData: true satisfies Same<Client.PersonalData, Static<typeof Auth.PersonalData>>,
};

t.test('every reply type of the client matches the server schema', async (t) => {
  t.equal(Object.keys(checks).length, 12);
});
