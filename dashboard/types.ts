/** The API's replies the dashboard reads (schemas/auth.ts, course.ts, roster.ts, reports.ts, toc.ts), as far as it reads them. */

export interface User {
  id: string;
  username: string | null;
  name: string | null;
  email: string | null;
  role: 'student' | 'instructor' | 'admin' | 'researcher';
  anonymous: boolean;
}

/** An identity provider people may sign in with (GET /api/auth/providers). */
export interface Provider {
  id: string;
  title: string;
}

/** What the caller is to a course on the dashboard: its staff role, or admin. */
export type CourseRole = 'instructor' | 'ta' | 'admin';

export interface CourseSummary {
  id: string;
  title: string;
  term: string | null;
  book: string;
  open: boolean;
  as: CourseRole;
}

export interface MyCourse {
  id: string;
  title: string;
  term: string | null;
  book: string;
  open: boolean;
  as: 'student' | 'instructor' | 'ta';
}

export interface CourseDetail {
  id: string;
  title: string;
  term: string | null;
  book: string;
  open: boolean;
  joinCode: string;
  students: number;
  instructors: number;
  tas: number;
}

export interface RosterStudent {
  id: string;
  username: string | null;
  name: string | null;
  email: string | null;
  via: string;
  enrolledAt: string;
}

export interface RosterPage {
  students: RosterStudent[];
  next: string | null;
}

export interface RosterChange {
  enrolled: number;
  alreadyEnrolled: number;
  created: { username: string; link: string }[];
}

export interface TocPage {
  id: string;
  title: string;
  chapter: string;
  questions: number;
  points: number;
}

export interface PageProgress {
  page: string;
  completed: boolean;
  attempted: number;
  correct: number;
  earned: number;
  possible: number;
}

export interface StudentProgress {
  user: { id: string; username: string | null; name: string | null; email: string | null };
  pages: PageProgress[];
  unlisted?: { pages: (PageProgress & { unlisted: true })[] };
  totals: { pagesCompleted: number; pages: number; earned: number; possible: number };
  lastActivity: string | null;
}

export interface ProgressPage {
  toc: { pages: TocPage[] };
  students: StudentProgress[];
  next: string | null;
}

/** A page of GET /api/courses/:course/grid (by chapter, or by page of one chapter). */
export interface GridPage {
  toc: { pages: TocPage[] };
  /** The table of contents' chapters with their titles. */
  chapters: { id: string; title: string }[];
  chapter: string | null;
  columns: string[];
  students: {
    user: StudentProgress['user'];
    totals: StudentProgress['totals'];
    lastActivity: string | null;
    /** [points earned, pages completed, pages with work], one a column. */
    cells: [number, number, number][];
    unlisted?: { page: string; completed: boolean }[];
  }[];
  next: string | null;
}

export interface Toc {
  chapters: { id: string; title: string }[];
}

export interface StudentWork {
  user: { id: string; username: string | null; name: string | null; email: string | null };
  programs: { activity: string; version: number; code: string; language: string | null; page: string | null; savedAt: string; unlisted?: true }[];
  answers: {
    latest: { question: string; attempt: number; kind: string; answer: unknown; correct: boolean | null; score: number | null; page: string | null; savedAt: string };
    attempts: number;
    unlisted?: true;
  }[];
  completed: { page: string; completedAt: string; unlisted?: true }[];
  position: { page: string; updatedAt: string } | null;
}

/** GET /api/courses/:course/students/:user/progress: the student's row of the grid, with the table of contents. */
export interface StudentProgressReply {
  course: string;
  book: string;
  toc: { pages: TocPage[] };
  student: StudentProgress;
}

/** A page of GET …/students/:user/programs/:activity/versions (newest first, no code). */
export interface VersionsPage {
  versions: { version: number; savedAt: string; language: string | null; page: string | null; size: number }[];
  next: string | null;
}

/** GET …/students/:user/programs/:activity/versions/:version: one version with its code. */
export interface ProgramVersion {
  activity: string;
  version: number;
  code: string;
  savedAt: string;
}

/** One attempt at a question. */
export interface Attempt {
  question: string;
  attempt: number;
  kind: string;
  answer: unknown;
  correct: boolean | null;
  score: number | null;
  page: string | null;
  savedAt: string;
}

/** A page of GET …/students/:user/answers/:question/attempts (in order). */
export interface AttemptsPage {
  attempts: Attempt[];
  next: string | null;
}

/** GET /api/courses/:course/activity (schemas/reports.ts CourseActivityReply). */
export interface CourseActivity {
  course: string;
  enrolled: number;
  activeThisWeek: number;
  days: { day: string; answers: number; saves: number; pageViews: number; students: number }[];
}

/** GET /api/courses/:course/consent. */
export interface CourseConsent {
  course: string;
  enrolled: number;
  consented: number;
  notConsented: number;
}

/** GET /api/courses/:course/lti-scores. */
export interface LtiScores {
  course: string;
  linked: boolean;
  pending: {
    user: { id: string; username: string | null; name: string | null };
    page: string;
    lineitem: string;
    scoreGiven: number;
    scoreMaximum: number;
    changedAt: string;
    attempts: number;
    nextAttemptAt: string | null;
    lastError: string | null;
    lastSentAt: string | null;
  }[];
}
