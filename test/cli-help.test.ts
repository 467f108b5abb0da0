/**
 * `--help` on every command of `folio`, found by walking the help itself (each "Commands:" list), so that a command
 * added later is covered too; and `--version`. Nothing here touches a database: it runs once, on SQLite.
 */
import t from 'tap';
import { folio } from './helper.js';

/** The subcommands a help text lists under "Commands:" (`help` itself left out). */
function subcommands(help: string): string[] {
  const section = help.split('\nCommands:\n')[1];
  if (section === undefined) return [];
  return section
    .split('\n')
    .map((line) => /^ {2}([a-z][a-z-]*)\b/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== 'help');
}

t.test('every command has --help, which prints its usage and exits 0', async (t) => {
  const seen: string[] = [];
  let level: string[][] = [[]];
  while (level.length > 0) {
    // A level's commands four at a time: each is a process of its own.
    const helps: Awaited<ReturnType<typeof folio>>[] = [];
    for (let i = 0; i < level.length; i += 4) helps.push(...(await Promise.all(level.slice(i, i + 4).map((args) => folio([...args, '--help'])))));
    const next: string[][] = [];
    helps.forEach((res, i) => {
      const args = level[i]!;
      const name = ['folio', ...args].join(' ');
      seen.push(name);
      t.equal(res.code, 0, name);
      t.match(res.stdout, new RegExp(`^Usage: ${name}\\b`), name);
      for (const sub of subcommands(res.stdout)) next.push([...args, sub]);
    });
    level = next;
  }
  // The walk reaches the nested commands (a check that it walks at all).
  for (const name of ['folio books origins add', 'folio courses roster import', 'folio lti keys rotate', 'folio auth providers add', 'folio export', 'folio restore']) t.ok(seen.includes(name), name);
});

t.test('--version prints the version', async (t) => {
  const version = await folio(['--version']);
  t.equal(version.code, 0);
  t.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});
