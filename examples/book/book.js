/**
 * The demo book's page glue: restores the student's work when the page loads, saves programs and answers with the
 * Folio client, logs research events, shows what the client says (saved, will retry, please log in), and offers the
 * course a `?course=CODE` link names (the client takes `course` out of the address bar once it is joined). A login
 * completed on Folio's own pages arrives as `#folio-handoff=CODE`: the client exchanges it by itself. The identity
 * providers Folio knows (`folio auth providers add`) get a "Sign in with …" button each.
 * Each page calls bindPage(folio, pageId) once; activities and questions are found by their data-* attributes.
 */

const plural = (n) => (n === 1 ? '1 change' : `${n} changes`);

/** Runs a program's JavaScript with console.log captured; returns what it printed and whether it threw. */
function run(code) {
  const lines = [];
  const print = (...values) => lines.push(values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(' '));
  try {
    new Function('console', code)({ log: print, error: print, warn: print });
    return { output: lines.join('\n'), ok: true };
  } catch (err) {
    lines.push(String(err));
    return { output: lines.join('\n'), ok: false };
  }
}

export function bindPage(folio, page) {
  const $ = (selector) => document.querySelector(selector);
  const sync = $('#sync');
  const banner = $('#banner');
  const account = $('#account');
  const form = $('#login');
  const accountError = $('#account-error');
  const logoutButton = $('#logout');
  const providerButtons = $('#providers');
  const complete = $('#complete');
  const activities = [...document.querySelectorAll('[data-activity]')];
  const questions = [...document.querySelectorAll('[data-question]')];
  const starterCode = new Map(activities.map((a) => [a.dataset.activity, a.querySelector('textarea').value]));

  // ---- the saved indicator ------------------------------------------------------------------------------------
  const show = (state, text) => {
    sync.dataset.state = state;
    sync.textContent = text;
  };
  folio.on('sync', (e) => {
    if (e.type === 'saving') show('saving', 'Saving…');
    else if (e.type === 'saved') show('saved', 'All work saved');
    else if (e.type === 'retrying' && e.reason === 'offline') show('retrying', `Offline: ${plural(e.pending)} kept in this browser, sent when you are back online`);
    else if (e.type === 'retrying') show('retrying', `Folio is not answering: trying again in ${Math.ceil(e.retryInMs / 1000)} s (${plural(e.pending)} waiting)`);
    else if (e.type === 'paused') show('paused', `Log in to save: ${plural(e.pending)} waiting`);
    else if (e.type === 'rejected') show('rejected', `Not saved: ${e.error.message}`);
  });

  // ---- the account box ----------------------------------------------------------------------------------------
  function renderAccount(user) {
    const named = user && !user.anonymous ? user : null;
    account.dataset.user = named?.username ?? '';
    account.dataset.mode = folio.mode ?? '';
    $('#who').textContent = named
      ? `Logged in as ${named.name || named.username}${folio.mode === 'token' ? ' (this browser refuses Folio’s cookie, so a token is used)' : ''}`
      : 'Not logged in: your work is saved anonymously. Register or log in to find it on any device.';
    form.hidden = Boolean(named) && banner.hidden;
    providerButtons.hidden = form.hidden || providerButtons.childElementCount === 0;
    logoutButton.hidden = !named;
  }

  folio.on('auth', (e) => {
    if (e.type === 'handoff_failed') {
      // A sign-in link (from a course or a sign-in page) that was used or expired: the page stays as it was.
      accountError.textContent = e.error.message;
      return;
    }
    banner.hidden = e.type !== 'required';
    if (e.type === 'required') {
      form.hidden = false;
      return;
    }
    renderAccount(e.type === 'login' ? e.user : null);
    void restore(); // the work on screen must be this student's
  });

  async function signIn(action) {
    accountError.textContent = '';
    const credentials = { username: $('#username').value.trim(), password: $('#password').value };
    try {
      await (action === 'register' ? folio.register(credentials) : folio.login(credentials));
      $('#password').value = '';
    } catch (err) {
      accountError.textContent = err.message;
    }
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void signIn('login');
  });
  $('#do-register').addEventListener('click', () => {
    if (form.reportValidity()) void signIn('register');
  });
  // One button per identity provider; the client opens it in a popup (or the whole page where popups are blocked).
  folio
    .providers()
    .then((providers) => {
      for (const provider of providers) {
        const button = document.createElement('button');
        button.type = 'button';
        button.dataset.provider = provider.id;
        button.textContent = `Sign in with ${provider.title}`;
        button.addEventListener('click', () => {
          accountError.textContent = '';
          folio.signIn(provider.id).catch((err) => (accountError.textContent = err.message));
        });
        providerButtons.append(button, ' ');
      }
      providerButtons.hidden = form.hidden || providers.length === 0;
    })
    .catch(() => {
      // no buttons: the sync indicator already says when Folio cannot be reached
    });
  logoutButton.addEventListener('click', () => folio.logout().catch((err) => (accountError.textContent = err.message)));

  // ---- courses: the one the address offers (?course=CODE), and the student's ------------------------------------
  const offer = $('#course-offer');
  const courseError = $('#course-error');
  const courses = $('#courses');
  const courseName = (c) => (c.term ? `${c.title} (${c.term})` : c.title);

  async function renderCourses() {
    let mine = [];
    try {
      mine = await folio.myCourses();
    } catch {
      // shown as nothing: the sync indicator already says when Folio cannot be reached
    }
    const studying = mine.filter((c) => c.as === 'student' && c.book === folio.book);
    const teaching = mine.filter((c) => c.as !== 'student' && c.book === folio.book);
    const parts = [];
    if (studying.length > 0) parts.push(`Your course${studying.length === 1 ? '' : 's'}: ${studying.map(courseName).join(', ')}`);
    if (teaching.length > 0) parts.push(`You teach: ${teaching.map((c) => `${courseName(c)}, join code ${c.joinCode}`).join('; ')}`);
    courses.textContent = parts.join(' · ');
    courses.hidden = parts.length === 0;
  }

  function renderOffer() {
    const offered = folio.courseOffer;
    offer.hidden = !offered;
    if (offered) $('#course-offer-text').textContent = `This link invites you to join a course with the code ${offered.code}.`;
  }

  const joinRefusals = {
    unauthenticated: 'Log in or register below first (or save something), then join.',
    session_expired: 'Your session has ended: log in again below, then join.',
    unknown_code: 'No course has this code: ask your instructor for a new link.',
  };
  $('#join-course').addEventListener('click', async () => {
    courseError.textContent = '';
    const offered = folio.courseOffer;
    if (!offered) return;
    try {
      const joined = await folio.joinCourse(offered.code);
      renderOffer();
      courses.hidden = false;
      courses.textContent = joined.as !== 'student'
        ? `You teach ${courseName(joined.course)}: its staff are not enrolled as students.`
        : `${joined.already ? 'You were already in' : 'You joined'} ${courseName(joined.course)}.`;
    } catch (err) {
      courseError.textContent = joinRefusals[err.error] ?? err.message;
    }
  });
  $('#dismiss-course').addEventListener('click', () => {
    folio.dismissCourseOffer();
    renderOffer();
  });
  folio.on('auth', () => void renderCourses());

  // ---- activities: a code box, Run and Save ------------------------------------------------------------------
  for (const activity of activities) {
    const id = activity.dataset.activity;
    const code = activity.querySelector('textarea');
    const note = activity.querySelector('.note');
    const output = activity.querySelector('.output');
    const save = async () => {
      note.textContent = 'Saving…';
      try {
        const result = await folio.saveProgram(id, code.value, { page, language: 'javascript' });
        note.textContent = result.status === 'saved' ? `Saved as version ${result.reply.version}` : 'Kept in this browser: it will be sent';
      } catch (err) {
        note.textContent = `Not saved: ${err.message}`;
      }
    };
    activity.querySelector('.save').addEventListener('click', save);
    code.addEventListener('keydown', (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key === 's') {
        event.preventDefault();
        void save();
      }
    });
    activity.querySelector('.run').addEventListener('click', () => {
      const started = performance.now();
      const { output: printed, ok } = run(code.value);
      output.textContent = printed;
      folio.log('run', { target: id, page, data: { ok, ms: Math.round(performance.now() - started) } });
    });
  }

  // ---- questions: multiple choice and fill in the blank ------------------------------------------------------
  const answerOf = (question) =>
    question.dataset.kind === 'mchoice'
      ? [...question.querySelectorAll('input[type=radio]:checked')].map((input) => input.value)
      : [...question.querySelectorAll('.blank')].map((input) => input.value.trim());
  const feedback = (correct, attempts) => `${correct ? 'Correct!' : 'Not yet: try again'} · ${attempts === 1 ? '1 attempt' : `${attempts} attempts`}`;

  for (const question of questions) {
    const id = question.dataset.question;
    const kind = question.dataset.kind;
    const shown = question.querySelector('.feedback');
    question.querySelector('.check').addEventListener('click', async () => {
      const answer = answerOf(question);
      const correct = answer.length === 1 && answer[0] === question.dataset.correct;
      try {
        const result = await folio.submitAnswer(id, { kind, answer, correct, page });
        shown.textContent = result.status === 'saved' ? feedback(correct, result.reply.attempt) : `${correct ? 'Correct!' : 'Not yet: try again'} · kept in this browser`;
      } catch (err) {
        shown.textContent = `Not saved: ${err.message}`;
      }
    });
  }

  complete.addEventListener('change', () => folio.markComplete(page, complete.checked).catch(() => {}));

  // ---- restore: everything the student has on this page, in one request ---------------------------------------
  // The page is aria-busy while a restore runs; when restores overlap (a login during the first one), only the
  // newest one's reply is shown.
  let restores = 0;
  async function restore() {
    const mine = ++restores;
    document.body.setAttribute('aria-busy', 'true');
    let loaded;
    try {
      loaded = await Promise.all([folio.pageState(page), folio.progress()]);
    } catch (err) {
      loaded = err;
    }
    if (mine !== restores) return;
    document.body.removeAttribute('aria-busy');
    for (const activity of activities) {
      activity.querySelector('textarea').value = starterCode.get(activity.dataset.activity);
      activity.querySelector('.note').textContent = '';
      activity.querySelector('.output').textContent = '';
    }
    for (const question of questions) {
      for (const input of question.querySelectorAll('input')) {
        if (input.type === 'radio') input.checked = false;
        else input.value = '';
      }
      question.querySelector('.feedback').textContent = '';
    }
    complete.checked = false;
    if (loaded instanceof Error) {
      show('error', `Could not load your work: ${loaded.message}`);
      return;
    }
    const [state, progress] = loaded;
    for (const activity of activities) {
      const program = state.programs[activity.dataset.activity];
      if (!program) continue;
      activity.querySelector('textarea').value = program.code;
      activity.querySelector('.note').textContent = program.pending ? 'Restored (not sent yet)' : `Restored version ${program.version}`;
    }
    for (const question of questions) {
      const saved = state.answers[question.dataset.question];
      if (!saved) continue;
      const values = saved.latest.answer;
      if (question.dataset.kind === 'mchoice') {
        for (const input of question.querySelectorAll('input[type=radio]')) input.checked = values.includes(input.value);
      } else {
        question.querySelectorAll('.blank').forEach((input, i) => (input.value = values[i] ?? ''));
      }
      question.querySelector('.feedback').textContent = feedback(saved.latest.correct, saved.attempts);
    }
    complete.checked = progress.completed.some((c) => c.page === page);
  }

  // ---- start --------------------------------------------------------------------------------------------------
  (async () => {
    let user = null;
    try {
      user = await folio.me();
    } catch (err) {
      show('error', `Folio cannot be reached: ${err.message}`);
    }
    renderAccount(user);
    renderOffer();
    void renderCourses();
    await restore();
    if (folio.pendingWrites > 0 && sync.dataset.state === 'idle') show('pending', `${plural(folio.pendingWrites)} waiting to be sent`);
    if (user) folio.setPosition(page).catch(() => {});
    folio.log('page:view', { page });
    document.body.dataset.ready = 'true';
  })();
}
