import Type from 'typebox';

/** Periodic backups (plugins/backups.ts), when FOLIO_BACKUP_DIR is set: reported, never a reason for 503. */
export const BackupStatus = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('failed'), Type.Literal('stale'), Type.Literal('waiting')], {
    description:
      'ok: the last backup worked; failed: it failed, but one worked within twice the interval; stale: none worked within twice the interval (counted from the newest backup in the folder, or from the start); waiting: none tried yet',
  }),
  dir: Type.String(),
  every: Type.String(),
  keep: Type.Integer(),
  last: Type.Union([
    Type.Object({ at: Type.String(), ok: Type.Boolean(), file: Type.String(), bytes: Type.Optional(Type.Integer()), durationMs: Type.Integer(), error: Type.Optional(Type.String()) }),
    Type.Null(),
  ]),
  lastSuccessAt: Type.Union([Type.String(), Type.Null()]),
  nextAt: Type.Union([Type.String(), Type.Null()]),
});
