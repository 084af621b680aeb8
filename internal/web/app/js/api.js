// api.js: the agent's API (docs/api.md) as parley web serves it under
// /api/v1, and the web app's own calls (/web/...). Errors arrive as
// APIError with the API's code, message and hint.

export class APIError extends Error {
  constructor(e, status) {
    super(e.message || 'error');
    this.code = e.code || 'internal';
    this.hint = e.hint || '';
    this.status = status;
    this.keyChange = e.key_change || null;
    this.queued = e.queued || null;
  }
}

// listeners of the notes every call brings (warnings that did not stop it).
const noteListeners = [];
export function onNote(f) { noteListeners.push(f); }
function notes(ns) { for (const n of ns || []) for (const f of noteListeners) f(n); }

// listeners of a call answered 401: the browser has no session (any
// more: session_expired says it ended).
const signedOutListeners = [];
export function onSignedOut(f) { signedOutListeners.push(f); }

async function envelope(res) {
  let env;
  try {
    env = await res.json();
  } catch {
    env = {error: {code: res.status === 401 ? 'unauthorized' : 'internal', message: `parley web answered ${res.status}`}};
  }
  notes(env.notes);
  if (env.error) {
    const err = new APIError(env.error, res.status);
    err.result = env.result;
    if (res.status === 401) for (const f of signedOutListeners) f(err);
    throw err;
  }
  return env.result;
}

// call is one API call: its result, or an APIError.
export async function call(method, path, body) {
  const opts = {method, headers: {Accept: 'application/json'}, credentials: 'same-origin'};
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch('/api/v1' + path, opts);
  } catch {
    throw new APIError({code: 'offline', message: 'parley web does not answer', hint: 'is parley web still running?'}, 0);
  }
  return envelope(res);
}

export const get = (p) => call('GET', p);
export const post = (p, b) => call('POST', p, b === undefined ? undefined : b);
export const put = (p, b) => call('PUT', p, b);
export const del = (p) => call('DELETE', p);

// lines reads an NDJSON answer, calling onFrame with each frame but the
// last, whose result it returns (or throws its error).
async function lines(res, onFrame) {
  if (!(res.headers.get('Content-Type') || '').startsWith('application/x-ndjson')) return envelope(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (value) buf += value;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line) continue;
      const f = JSON.parse(line);
      if (f.done) {
        if (f.error) throw new APIError(f.error, res.status);
        return f.result;
      }
      if (f.note) notes([f.note]);
      onFrame(f);
    }
    if (done) throw new APIError({code: 'internal', message: 'the answer ended early'}, res.status);
  }
}

// stream is a call answered as NDJSON: progress frames go to onProgress.
export async function stream(method, path, body, onProgress) {
  const res = await fetch('/api/v1' + path, {
    method, credentials: 'same-origin',
    headers: {Accept: 'application/x-ndjson', 'Content-Type': 'application/json'},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return lines(res, (f) => f.progress && onProgress(f.progress));
}

// upload sends file to conv: onProgress(stage, done, total) hears the
// upload to parley web ("upload") and the agent's sending ("send").
export function upload(conv, file, caption, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    const q = new URLSearchParams({conv, name: file.name});
    if (caption) q.set('caption', caption);
    x.open('POST', '/web/upload?' + q.toString());
    x.setRequestHeader('Content-Type', 'application/octet-stream');
    x.upload.onprogress = (e) => onProgress('upload', e.loaded, e.total || file.size);
    let seen = 0;
    const read = (final) => {
      const text = x.responseText;
      let i;
      while ((i = text.indexOf('\n', seen)) >= 0) {
        const line = text.slice(seen, i);
        seen = i + 1;
        if (!line) continue;
        let f;
        try { f = JSON.parse(line); } catch { continue; }
        if (f.done) {
          if (f.error) reject(new APIError(f.error, x.status));
          else resolve(f.result);
          return true;
        }
        if (f.note) notes([f.note]);
        if (f.progress) onProgress(f.progress.stage, f.progress.done, f.progress.total);
      }
      if (final) {
        try {
          const env = JSON.parse(text);
          reject(new APIError(env.error || {message: 'the upload failed'}, x.status));
        } catch {
          reject(new APIError({code: 'internal', message: `the upload failed (${x.status})`}, x.status));
        }
      }
      return false;
    };
    x.onprogress = () => read(false);
    x.onload = () => { if (!read(false)) read(true); };
    x.onerror = () => reject(new APIError({code: 'offline', message: 'parley web does not answer'}, 0));
    x.send(file);
  });
}

// events follows the agent's event stream (server-sent events; the
// browser resumes after a break with Last-Event-ID).
// onClosed is called if the browser gives up on it (an answer other than
// the stream: 401, 503).
export function events(types, fn, onClosed) {
  const es = new EventSource('/api/v1/events');
  es.addEventListener('error', () => { if (es.readyState === EventSource.CLOSED && onClosed) onClosed(); });
  for (const t of types) es.addEventListener(t, (e) => {
    let ev;
    try { ev = JSON.parse(e.data); } catch { return; }
    fn(ev);
  });
  return es;
}

// fileURL is where the browser gets the file of message ref.
export function fileURL(conv, ref, inline) {
  const q = new URLSearchParams({conv, ref});
  if (inline) q.set('inline', '1');
  return '/web/file?' + q.toString();
}
