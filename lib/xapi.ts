import { createHash } from 'node:crypto';
import { isoTimes } from './time.js';

/**
 * xAPI 1.0.3 statements for research exports. Verbs are ADL's; activity ids are built from the book's first
 * origin, the page and the question (or activity, or event target); extension keys live under the server's
 * public origin (`<home page>/xapi/…`), which the deployer controls.
 */

export const verbs = {
  answered: 'http://adlnet.gov/expapi/verbs/answered',
  attempted: 'http://adlnet.gov/expapi/verbs/attempted',
  experienced: 'http://adlnet.gov/expapi/verbs/experienced',
  completed: 'http://adlnet.gov/expapi/verbs/completed',
  registered: 'http://adlnet.gov/expapi/verbs/registered',
} as const;

const activityTypes = {
  question: 'http://adlnet.gov/expapi/activities/cmi.interaction',
  program: 'http://adlnet.gov/expapi/activities/interaction',
  page: 'http://adlnet.gov/expapi/activities/lesson',
};

type InteractionType = 'choice' | 'fill-in' | 'long-fill-in' | 'matching' | 'other';

/** Items joined as xAPI responses join them; an answer of another shape (it was checked when saved) as JSON rather than a failed export. */
const items = <T>(a: unknown, item: (x: T) => string = String) => (Array.isArray(a) ? (a as T[]).map((x) => item(x)).join('[,]') : JSON.stringify(a));
const text = (a: unknown) => (typeof a === 'string' ? a : JSON.stringify(a));

/** How each kind of answer is reported, and its response in the interaction type's format (`[,]` between items). */
const interactions: Record<string, { type: InteractionType; response: (answer: unknown) => string }> = {
  mchoice: { type: 'choice', response: (a) => items(a) },
  poll: { type: 'choice', response: text },
  clickablearea: { type: 'choice', response: (a) => items(a) },
  fitb: { type: 'fill-in', response: (a) => items(a) },
  shortanswer: { type: 'long-fill-in', response: text },
  dragndrop: { type: 'matching', response: (a) => items(a, (p: { source: string; target: string }) => `${p.source}[.]${p.target}`) },
};
// parsons (indentation matters), unittest and codelens have no xAPI interaction type: their response is the answer as JSON.
const otherInteraction = { type: 'other' as const, response: (a: unknown) => JSON.stringify(a) };

/** Where statements come from. */
export interface XapiSource {
  /** The server's public origin: actors are accounts on it, and extension keys live under it. */
  homePage: string;
  book: string;
  /** The book's first origin (activity ids start with it). */
  bookOrigin: string;
}

/** Who: an account name (a pseudonym, or with identify the username) and, with identify, the person's name. */
export interface XapiActor {
  account: string;
  name?: string | null;
}

const urlNamespace = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');

/** RFC 4122 name-based UUID (version 5, SHA-1) in the URL namespace: the same name always gives the same id. */
export function nameBasedUuid(name: string): string {
  const hex = createHash('sha1').update(urlNamespace).update(name).digest('hex');
  // Version 5 in the 13th digit; the RFC 4122 variant (binary 10xx) in the 17th.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** `<book origin>/<page>#<part>`: page and part ids are already IRI-safe ([A-Za-z0-9._:/-]). */
export function activityId(source: XapiSource, page: string | null, part?: string | null): string {
  return `${source.bookOrigin}/${encodeURI(page ?? '')}${part ? `#${encodeURI(part)}` : ''}`;
}

/** The extension key for `name` (e.g. `https://folio.example.edu/xapi/book`). */
export function extensionKey(source: XapiSource, name: string): string {
  return `${source.homePage}/xapi/${name}`;
}

export interface AnswerFacts {
  id: number;
  question: string;
  attempt: number;
  kind: string;
  answer: unknown;
  correct: boolean | null;
  score: number | null;
  page: string | null;
  at: number;
}

export interface ProgramFacts {
  id: number;
  activity: string;
  version: number;
  language: string | null;
  page: string | null;
  code: string;
  at: number;
}

export interface EventFacts {
  id: number;
  type: string;
  target: string | null;
  page: string | null;
  /** The event's data as stored: JSON text, or null. */
  dataJson: string | null;
  clientTime: number | null;
  at: number;
}

export interface AssignmentFacts {
  experiment: string;
  variant: string;
  page: string | null;
  replacedVariant: string | null;
  at: number;
}

export interface CompletionFacts {
  page: string;
  at: number;
}

const json = JSON.stringify;
const verbJson = Object.fromEntries(Object.entries(verbs).map(([name, id]) => [name, json({ id, display: { 'en-US': name } })])) as Record<keyof typeof verbs, string>;

/**
 * Writes statements as JSON text, one per exported row: `{id, actor, verb, object, result?, timestamp, context}`.
 * What statements share (actors, verbs, activity definitions, extension keys, the book) is serialised once and
 * each row adds its own values, which for millions of rows is several times cheaper than JSON.stringify of objects.
 */
export class StatementWriter {
  private readonly actors = new Map<string, string>();
  private readonly keys = new Map<string, string>();
  private readonly context: string;
  private readonly statementIds: string;
  private readonly timestamps = isoTimes();
  private readonly clientTimes = isoTimes();

  constructor(private readonly source: XapiSource) {
    this.context = `"context":{"platform":"Folio","extensions":{${json(extensionKey(source, 'book'))}:${json(source.book)}`;
    this.statementIds = `${source.homePage}/xapi/statements/${source.book}/`;
  }

  /** An account on the home page; with identify, the person's name too. */
  private actor({ account, name }: XapiActor): string {
    const known = name ? `${account}\u0000${name}` : account;
    let text = this.actors.get(known);
    if (text === undefined) {
      const agent = { homePage: this.source.homePage, name: account };
      this.actors.set(known, (text = json(name ? { objectType: 'Agent', name, account: agent } : { objectType: 'Agent', account: agent })));
    }
    return text;
  }

  private activity(page: string | null, part: string | null, definition?: Record<string, string>): string {
    return `{"objectType":"Activity","id":${json(activityId(this.source, page, part))}${definition ? `,"definition":${json(definition)}` : ''}}`;
  }

  /**
   * One statement. Its id is the name-based UUID of the row and the actor: a pseudonymised and an identified export
   * of one row are different statements. Extensions come as [name, JSON text]; null ones are left out.
   */
  private statement(actor: XapiActor, row: string, verb: keyof typeof verbs, object: string, at: number, extensions: [string, string | null][], result?: string): string {
    let context = this.context;
    for (const [name, value] of extensions) {
      if (value === null) continue;
      let key = this.keys.get(name);
      if (key === undefined) this.keys.set(name, (key = `,${json(extensionKey(this.source, name))}:`));
      context += key + value;
    }
    const id = nameBasedUuid(`${this.statementIds}${row}/${actor.account}`);
    return `{"id":"${id}","actor":${this.actor(actor)},"verb":${verbJson[verb]},"object":${object}${result === undefined ? '' : `,"result":${result}`},"timestamp":"${this.timestamps(at)}",${context}}}}`;
  }

  /** An attempt at a question: `answered`, with success, raw score and the response. */
  answer(actor: XapiActor, a: AnswerFacts): string {
    const interaction = interactions[a.kind] ?? otherInteraction;
    const object = this.activity(a.page, a.question, { type: activityTypes.question, interactionType: interaction.type });
    const success = a.correct === null ? '' : `"success":${a.correct},`;
    const score = a.score === null ? '' : `"score":{"raw":${json(a.score)}},`;
    const result = `{${success}${score}"response":${json(interaction.response(a.answer))}}`;
    return this.statement(actor, `answers/${a.id}`, 'answered', object, a.at, [['attempt', json(a.attempt)], ['kind', json(a.kind)]], result);
  }

  /** A saved version of a program: `attempted`, the code as the response. */
  program(actor: XapiActor, p: ProgramFacts): string {
    const object = this.activity(p.page, p.activity, { type: activityTypes.program });
    const extensions: [string, string | null][] = [['version', json(p.version)], ['language', p.language === null ? null : json(p.language)]];
    return this.statement(actor, `programs/${p.id}`, 'attempted', object, p.at, extensions, `{"response":${json(p.code)}}`);
  }

  /** A research event: `experienced` the page (or the target on it); its type, data and client time as extensions. */
  event(actor: XapiActor, e: EventFacts): string {
    const clientTime = e.clientTime === null ? null : `"${this.clientTimes(e.clientTime)}"`;
    // The data is stored as JSON.stringify wrote it: JSON text of one line, spliced in as it is.
    const extensions: [string, string | null][] = [['event-type', json(e.type)], ['data', e.dataJson === 'null' ? null : e.dataJson], ['client-time', clientTime]];
    return this.statement(actor, `events/${e.id}`, 'experienced', this.activity(e.page, e.target), e.at, extensions);
  }

  /**
   * An experiment's assignment: `registered` in the experiment (an activity under the home page,
   * `<home page>/xapi/experiments/<book>/<experiment>`), the variant, page and replaced variant as extensions.
   */
  assignment(actor: XapiActor, a: AssignmentFacts): string {
    const id = `${this.source.homePage}/xapi/experiments/${encodeURIComponent(this.source.book)}/${encodeURIComponent(a.experiment)}`;
    const object = `{"objectType":"Activity","id":${json(id)},"definition":{"name":{"en-US":${json(`experiment ${a.experiment}`)}}}}`;
    const extensions: [string, string | null][] = [['variant', json(a.variant)], ['page', a.page === null ? null : json(a.page)], ['replaced-variant', a.replacedVariant === null ? null : json(a.replacedVariant)]];
    return this.statement(actor, `assignments/${a.experiment}`, 'registered', object, a.at, extensions);
  }

  /**
   * A statement with one more `context.extensions` entry (JSON text): a statement ends with the extensions' object,
   * the context's and its own closing braces.
   */
  withExtension(statement: string, name: string, value: string): string {
    return `${statement.slice(0, -3)},${json(extensionKey(this.source, name))}:${value}}}}`;
  }

  /** A page marked complete: `completed`. Unmarked and marked again is another completion, so the time is part of the row's key. */
  completion(actor: XapiActor, c: CompletionFacts): string {
    const object = this.activity(c.page, null, { type: activityTypes.page });
    return this.statement(actor, `completions/${c.page}/${c.at}`, 'completed', object, c.at, [], '{"completion":true}');
  }
}
