/**
 * examples/eleventy: the example book built by Eleventy from Markdown. The build keeps the components' markup
 * whole, wraps each page in <folio-book>, and the table of contents scanned from the built pages is valid.
 */
import { Eleventy } from '@11ty/eleventy';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { checkToc } from '../lib/toc.js';
import { scanFolder } from '../scripts/toc-scan.js';
import { root } from './helper.js';

const input = join(root, 'examples/eleventy');

t.test('Eleventy builds the Markdown pages into pages of components, and their table of contents is generated', async (t) => {
  const output = await mkdtemp(join(tmpdir(), 'folio-eleventy-'));
  t.teardown(() => rm(output, { recursive: true, force: true }));
  process.env.FOLIO_SERVER = 'https://folio.example.edu';
  process.env.FOLIO_BOOK = 'mdbook';
  t.teardown(() => {
    delete process.env.FOLIO_SERVER;
    delete process.env.FOLIO_BOOK;
  });
  const eleventy = new Eleventy(input, output, { configPath: join(input, 'eleventy.config.js'), quietMode: true });
  await eleventy.write();
  const lists = await readFile(join(output, 'ch1/lists/index.html'), 'utf8');
  t.match(lists, '<script type="module" src="https://folio.example.edu/client/components.js"></script>');
  t.match(lists, '<folio-book server="https://folio.example.edu" book="mdbook">');
  t.match(lists, '<folio-option value="b" correct>20</folio-option>', 'the options whole, not wrapped in paragraphs');
  t.notMatch(lists, /<p><folio-/, 'no element wrapped in a paragraph');
  const toc = scanFolder(output);
  t.strictSame(toc, {
    chapters: [
      {
        id: 'ch1',
        title: '1.1 Lists',
        pages: [
          { id: 'ch1/lists/index', title: '1.1 Lists', url: '/ch1/lists/index.html', questions: [{ id: 'md-q1', kind: 'mchoice', points: 1 }, { id: 'md-q2', kind: 'fitb', points: 1 }], activities: [{ id: 'md-ac1' }] },
          { id: 'ch1/loops/index', title: '1.2 Loops', url: '/ch1/loops/index.html', questions: [{ id: 'md-poll', kind: 'poll', points: 0 }, { id: 'md-q3', kind: 'shortanswer', points: 1 }], activities: [] },
        ],
      },
    ],
  });
  t.ok('toc' in checkToc(toc));
});
