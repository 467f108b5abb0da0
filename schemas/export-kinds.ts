/** What a research export holds and how it is written: plain constants, for the CLI without loading the schemas. */
export const exportKinds = ['events', 'answers', 'programs', 'completions', 'assignments'] as const;
export type ExportKind = (typeof exportKinds)[number];
export const exportFormats = ['jsonl', 'csv', 'xapi'] as const;
export type ExportFormat = (typeof exportFormats)[number];
