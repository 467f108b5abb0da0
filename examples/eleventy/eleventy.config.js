// The example book built by Eleventy from Markdown: each page is wrapped in <folio-book> by _includes/page.njk.
// FOLIO_SERVER and FOLIO_BOOK name the Folio server and book (defaults: the demo's).
export default function (eleventyConfig) {
  eleventyConfig.ignores.add('**/README.md');
  eleventyConfig.addGlobalData('folio', { server: process.env.FOLIO_SERVER ?? 'http://localhost:3000', book: process.env.FOLIO_BOOK ?? 'demo' });
  return { dir: { includes: '_includes' }, markdownTemplateEngine: 'njk' };
}
