// The admin page's script (served as /assets/admin.js): polls GET /api/overview once a second
// and draws it; the chart is uPlot (/assets/uPlot.iife.min.js, the global `uPlot`). Actions
// (create and delete a stream, take a snapshot) send the credentials of a configured client as
// HTTP Basic authentication, asked for once and kept in this tab's sessionStorage. Names from
// the store are user text: they only ever go into the page as textContent, never as HTML.
'use strict';

(() => {
  const POLL_MS = 1000;
  const HISTORY_POINTS = 600;
  const CREDENTIALS_KEY = 'eventbus.credentials';
  const $ = (id) => document.getElementById(id);
  const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

  let authRequired = false;
  let lastSampleMs = 0;
  const chartData = [[], [], [], []]; // seconds, writes/s, consumed/s, p99 ms
  let chart = null;
  let polling = false;
  /** The stream whose Delete was clicked once, and until when a second click confirms it. */
  let armedDelete = null;
  const CONFIRM_DELETE_MS = 5000;

  // ------------------------------------------------------------------ formatting

  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return `${number.format(n)} ${units[i]}`;
  }

  function cell(text, numeric) {
    const td = document.createElement('td');
    td.textContent = text;
    if (numeric) td.className = 'n';
    return td;
  }

  function row(cells) {
    const tr = document.createElement('tr');
    for (const c of cells) tr.append(c);
    return tr;
  }

  function fill(tableId, rows, emptyText, columns) {
    const body = $(tableId).tBodies[0];
    if (rows.length === 0) {
      const td = cell(emptyText, false);
      td.colSpan = columns;
      td.className = 'empty';
      body.replaceChildren(row([td]));
    } else {
      body.replaceChildren(...rows);
    }
  }

  function message(text, kind) {
    const box = $('message');
    box.textContent = text;
    box.className = kind;
    box.hidden = text === '';
  }

  // ------------------------------------------------------------------ credentials

  function storedCredentials() {
    return sessionStorage.getItem(CREDENTIALS_KEY);
  }

  function showAuthState() {
    $('sign-in').hidden = !authRequired;
    $('sign-in').textContent = storedCredentials() === null ? 'Sign in' : 'Sign out';
    $('auth-state').textContent = !authRequired ? 'no credentials needed' : storedCredentials() === null ? 'signed out' : 'signed in';
  }

  /** Asks for the client id and secret; resolves with the Authorization value, or null when cancelled. */
  function askCredentials() {
    return new Promise((resolve) => {
      const dialog = $('login-dialog');
      const form = $('login-form');
      const done = (value) => {
        form.removeEventListener('submit', onSubmit);
        $('login-cancel').removeEventListener('click', onCancel);
        dialog.removeEventListener('cancel', onCancel);
        if (dialog.open) dialog.close();
        resolve(value);
      };
      const onSubmit = (event) => {
        event.preventDefault();
        const id = $('login-id').value;
        const secret = $('login-secret').value;
        $('login-secret').value = '';
        const encoded = btoa(String.fromCharCode(...new TextEncoder().encode(`${id}:${secret}`)));
        sessionStorage.setItem(CREDENTIALS_KEY, `Basic ${encoded}`);
        showAuthState();
        done(`Basic ${encoded}`);
      };
      const onCancel = (event) => {
        event.preventDefault();
        done(null);
      };
      form.addEventListener('submit', onSubmit);
      $('login-cancel').addEventListener('click', onCancel);
      dialog.addEventListener('cancel', onCancel);
      dialog.showModal();
      $('login-id').focus();
    });
  }

  /**
   * Sends an action. Asks for credentials first when the server needs them and none are kept;
   * after a 401 forgets them and asks once more. Resolves with the parsed answer, or null; never
   * rejects (a server that cannot be reached is said in the message box).
   */
  async function act(method, path, body, done) {
    let authorization = storedCredentials();
    for (let attempt = 0; attempt < 2; attempt += 1) {
      if (authRequired && authorization === null) {
        authorization = await askCredentials();
        if (authorization === null) {
          message('Refused: this server needs the credentials of a configured client for changes.', 'error');
          return null;
        }
      }
      const headers = { 'content-type': 'application/json', 'x-requested-with': 'eventbus-admin' };
      if (authorization !== null) headers.authorization = authorization;
      let response;
      try {
        response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (error) {
        // Sent or not, no answer came: the next poll shows whether the change was made.
        message(`Cannot reach the server: ${error.message}.`, 'error');
        return null;
      }
      const answer = await response.json().catch(() => ({}));
      if (response.status === 401) {
        sessionStorage.removeItem(CREDENTIALS_KEY);
        authorization = null;
        showAuthState();
        message(`Refused (${answer.error?.code ?? 'UNAUTHORIZED'}): ${answer.error?.reason ?? 'wrong credentials'}`, 'error');
        if (!authRequired) return null;
        continue;
      }
      if (!response.ok) {
        message(`${answer.error?.code ?? response.status}: ${answer.error?.reason ?? response.statusText}`, 'error');
        return null;
      }
      message(done(answer), 'ok');
      void poll();
      return answer;
    }
    return null;
  }

  // ------------------------------------------------------------------ drawing

  function drawStreams(overview) {
    const rows = overview.streams.map((s) => {
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'Delete';
      remove.className = 'danger';
      remove.dataset.delete = s.name;
      // The poll redraws every row: the armed state lives outside the button so that it survives.
      if (armedDelete !== null && armedDelete.name === s.name && Date.now() < armedDelete.untilMs) {
        remove.dataset.armed = 'true';
        remove.textContent = 'Confirm delete';
      }
      remove.addEventListener('click', () => confirmDelete(remove, s.name));
      const name = cell(s.name, false);
      name.className = 'name';
      const tr = row([name, cell(number.format(s.events), true), cell(number.format(s.appended), true), cell(bytes(s.bytes), true),
        cell(number.format(s.write_rate), true), cell(number.format(s.consumers.length), true), cell(s.damaged_regions === 0 ? '–' : number.format(s.damaged_regions), true), remove]);
      tr.dataset.stream = s.name;
      if (s.damaged_regions > 0) tr.className = 'damaged';
      return tr;
    });
    fill('streams', rows, 'No streams yet: create one above, or with create_stream.', 8);
    const shown = overview.streams.length;
    // Streams that failed to open are not rows here (they are under Damage): compare with the open ones.
    const open = overview.totals.streams - overview.totals.broken_streams;
    $('streams-note').textContent = shown < open ? `first ${shown} of ${number.format(open)} by name` : `${number.format(shown)}`;
  }

  /** Deleting takes two clicks on the same stream's button (no browser dialog), within 5 seconds. */
  function confirmDelete(button, name) {
    const armed = armedDelete !== null && armedDelete.name === name && Date.now() < armedDelete.untilMs;
    if (!armed) {
      armedDelete = { name, untilMs: Date.now() + CONFIRM_DELETE_MS };
      button.dataset.armed = 'true';
      button.textContent = 'Confirm delete';
      setTimeout(() => {
        const current = document.querySelector(`button[data-delete="${CSS.escape(name)}"]`);
        if (current !== null && (armedDelete === null || armedDelete.name !== name || Date.now() >= armedDelete.untilMs)) {
          current.dataset.armed = 'false';
          current.textContent = 'Delete';
        }
      }, CONFIRM_DELETE_MS);
      return;
    }
    armedDelete = null;
    // The name in the query, not the path: a browser resolves `.` and `..` path segments (even
    // percent-encoded) before sending, and those are stream names too.
    void act('DELETE', `/api/streams?name=${encodeURIComponent(name)}`, undefined, () => `Deleted stream ${name} and its events.`);
  }

  function drawConsumers(overview) {
    const rows = [];
    for (const s of overview.streams) {
      for (const c of s.consumers) {
        rows.push(row([cell(s.name, false), cell(c.name, false), cell(number.format(c.cursor), true), cell(number.format(c.lag), true),
          cell(number.format(c.pending), true), cell(number.format(c.retry), true), cell(number.format(c.dead_lettered), true)]));
      }
    }
    fill('consumers', rows, 'No consumers yet (process_events creates one on first use).', 7);
    // Only the listed streams' consumers are here: say so when streams past the list have some.
    $('consumers-note').textContent = rows.length < overview.totals.consumers
      ? `${number.format(rows.length)} of ${number.format(overview.totals.consumers)}: those of the first ${number.format(overview.streams.length)} streams by name`
      : '';
  }

  function drawDamage(overview) {
    const rows = overview.damage.map((d) => row([cell(d.stream, false), cell(d.file, false), cell(number.format(d.position), true),
      cell(d.first_offset <= d.last_offset ? `${number.format(d.first_offset)}–${number.format(d.last_offset)}` : '–', true), cell(d.reason, false)]));
    for (const b of overview.broken) rows.push(row([cell(b.name, false), cell('(stream failed to open)', false), cell('', true), cell('', true), cell(b.reason, false)]));
    fill('damage', rows, 'No damage found.', 5);
  }

  function drawSnapshots(overview) {
    const rows = overview.snapshots.map((s) => row([cell(s.started_at.replace('T', ' ').replace('Z', ' UTC'), false), cell(`${number.format(s.duration_ms)} ms`, true),
      cell(s.code === 'OK' ? 'OK' : `${s.code}: ${s.reason}`, false), cell(s.path ?? '', false), cell(number.format(s.streams), true), cell(number.format(s.events), true), cell(bytes(s.bytes), true)]));
    fill('snapshots', rows, 'None yet.', 7);
  }

  function drawHeader(overview) {
    const badge = $('readiness');
    badge.textContent = overview.ready ? 'ready' : 'not ready';
    badge.className = overview.ready ? 'badge ok' : 'badge bad';
    const t = overview.totals;
    const broken = t.broken_streams > 0 ? ` (${number.format(t.broken_streams)} failed to open)` : '';
    $('summary').textContent = `${number.format(t.streams)} streams${broken} · ${number.format(t.events)} events · ${bytes(t.bytes)} · ${number.format(t.consumers)} consumers · ${number.format(overview.connections)} connections · up ${number.format(overview.uptime_seconds)} s`;
    if (authRequired !== overview.auth_required) {
      authRequired = overview.auth_required;
      showAuthState();
    }
  }

  function makeChart() {
    const element = $('chart');
    const width = Math.max(320, element.clientWidth);
    chart = new uPlot({
      width,
      height: 260,
      scales: { x: { time: true }, rate: { auto: true, range: (_u, min, max) => [0, Math.max(10, max * 1.1)] }, ms: { auto: true, range: (_u, min, max) => [0, Math.max(1, max * 1.1)] } },
      series: [
        {},
        { label: 'writes/s', scale: 'rate', stroke: '#2563eb', width: 2, value: (_u, v) => (v == null ? '–' : number.format(v)) },
        { label: 'consumed/s', scale: 'rate', stroke: '#16a34a', width: 2, value: (_u, v) => (v == null ? '–' : number.format(v)) },
        { label: 'p99 append (ms)', scale: 'ms', stroke: '#dc2626', width: 1.5, dash: [6, 4], spanGaps: false, value: (_u, v) => (v == null ? '–' : number.format(v)) },
      ],
      axes: [
        {},
        { scale: 'rate', label: 'events/s', size: 70 },
        { scale: 'ms', side: 1, label: 'p99 ms', grid: { show: false }, size: 60 },
      ],
    }, chartData, element);
    window.addEventListener('resize', () => chart.setSize({ width: Math.max(320, element.clientWidth), height: 260 }));
  }

  function drawChart(series) {
    for (const s of series) {
      chartData[0].push(s.time_ms / 1000);
      chartData[1].push(s.writes_per_second);
      chartData[2].push(s.consumed_per_second);
      chartData[3].push(s.append_p99_ms);
      lastSampleMs = s.time_ms;
    }
    const extra = chartData[0].length - HISTORY_POINTS;
    if (extra > 0) for (const column of chartData) column.splice(0, extra);
    if (chart === null) makeChart();
    else chart.setData(chartData);
    const element = $('chart');
    element.dataset.points = String(chartData[0].length);
    element.dataset.lastWrites = String(chartData[1].at(-1) ?? 0);
  }

  // ------------------------------------------------------------------ polling

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const response = await fetch(`/api/overview?since=${lastSampleMs}`, { headers: { 'x-requested-with': 'eventbus-admin' } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const overview = await response.json();
      drawHeader(overview);
      drawStreams(overview);
      drawConsumers(overview);
      drawDamage(overview);
      drawSnapshots(overview);
      drawChart(overview.series);
      document.body.dataset.loaded = 'true';
    } catch (error) {
      $('readiness').textContent = 'unreachable';
      $('readiness').className = 'badge bad';
      $('summary').textContent = `cannot reach the server (${error.message})`;
    } finally {
      polling = false;
    }
  }

  $('create-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const name = $('create-name').value;
    void act('POST', '/api/streams', { name }, (answer) => {
      $('create-name').value = '';
      return `Created stream ${answer.stream.name}.`;
    });
  });
  $('snapshot-button').addEventListener('click', () => {
    void act('POST', '/api/snapshots', {}, (answer) => `Snapshot taken: ${answer.snapshot.path} (${number.format(answer.snapshot.events)} events, ${bytes(answer.snapshot.bytes)}).`);
  });
  $('sign-in').addEventListener('click', () => {
    if (storedCredentials() !== null) {
      sessionStorage.removeItem(CREDENTIALS_KEY);
      showAuthState();
      return;
    }
    void askCredentials();
  });

  showAuthState();
  void poll();
  setInterval(() => void poll(), POLL_MS);
})();
