/** A table of contents generated from the pages' components (lib/toc-scan.ts), valid for `folio books toc import`. */
import t from 'tap';
import { checkToc } from '../lib/toc.js';
import { scanPages } from '../lib/toc-scan.js';

const intro = `<!doctype html><title>1.1 Lists &amp; loops</title><folio-book server="https://f.example" book="b">
<folio-choice question="q1-1"><p>?</p><folio-option value="a">A</folio-option></folio-choice>
<folio-blank question='q1-2' answer="x" points="2">___</folio-blank>
<!-- <folio-choice question="commented-out"></folio-choice> -->
<folio-code activity="ac1-1" language="python"><pre>print(1)</pre></folio-code>
<folio-poll question="poll1"><folio-option value="a">a</folio-option></folio-poll>
<folio-choice><p>no id: left out</p></folio-choice></folio-book>`;
const more = `<h1>1.2 More</h1><folio-book server="s" book="b"><folio-short-answer question="q1-3"></folio-short-answer></folio-book>`;
const named = `<title>Two</title><folio-book server="s" book="b" page="ch2/start"><folio-choice question="q2-1"></folio-choice></folio-book>`;

t.test('pages are grouped into chapters by the first part of their id, with their questions, kinds, points and activities', async (t) => {
  const toc = scanPages([
    { path: '/ch1/intro.html', html: intro },
    { path: '/ch1/more.html', html: more },
    { path: '/two.html', html: named },
  ]);
  t.strictSame(toc, {
    chapters: [
      {
        id: 'ch1',
        title: '1.1 Lists & loops',
        pages: [
          {
            id: 'ch1/intro',
            title: '1.1 Lists & loops',
            url: '/ch1/intro.html',
            questions: [
              { id: 'q1-1', kind: 'mchoice', points: 1 },
              { id: 'q1-2', kind: 'fitb', points: 2 },
              { id: 'poll1', kind: 'poll', points: 0 },
            ],
            activities: [{ id: 'ac1-1' }],
          },
          { id: 'ch1/more', title: '1.2 More', url: '/ch1/more.html', questions: [{ id: 'q1-3', kind: 'shortanswer', points: 1 }], activities: [] },
        ],
      },
      { id: 'ch2', title: 'Two', pages: [{ id: 'ch2/start', title: 'Two', url: '/two.html', questions: [{ id: 'q2-1', kind: 'mchoice', points: 1 }], activities: [] }] },
    ],
  });
  t.ok('toc' in checkToc(toc), 'a valid table of contents');
});

t.test('a page at a folder\'s root is its index', async (t) => {
  t.equal(scanPages([{ path: '/ch3/', html: '<folio-book server="s" book="b"></folio-book>' }]).chapters[0]?.pages[0]?.id, 'ch3/index');
});
