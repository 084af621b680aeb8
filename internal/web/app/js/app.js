// app.js: Parley's web app. Screens are functions that build the page
// from the agent's API (api.js) with dom.js's h(): never HTML from
// strings. Routes live in the location's fragment (#/c/bob).

import {h, other, replace, seg} from './dom.js';
import * as api from './api.js';

const main = document.getElementById('main');
const top = document.getElementById('top');
const toastEl = document.getElementById('toast');

const state = {
  info: null,       // GET /v1/agent
  contacts: [],     // GET /v1/contacts
  groups: [],       // GET /v1/groups
  requests: [],     // GET /v1/requests
  last: {},         // conversation → its newest message
  conv: null,       // the open conversation
  screen: 0,        // counts the screens started (screen())
  messages: [],     // its messages
  label: '',
  replyTo: null,    // the message the composer answers
  editing: null,    // the message the composer edits
  events: null,     // the EventSource
  offline: new Set(), // hubs (and "chain") that do not answer
  acting: 0,        // busy() calls under way
};

// ---------- small helpers

function toast(text) {
  replace(toastEl, text);
  clearTimeout(toast.t);
  toast.t = setTimeout(() => replace(toastEl), 8000);
}

api.onNote((n) => toast((n.context ? n.context + ': ' : '') + n.message + (n.hint ? ' — ' + n.hint : '')));

// errorBox is where a screen says what went wrong (role alert).
function errorBox() {
  return h('p', {class: 'error', role: 'alert', hidden: true});
}

function showError(box, err) {
  box.hidden = false;
  replace(box, err.message || String(err), err.hint ? h('br') : null, err.hint ? 'What to do: ' + err.hint : null);
}

// busy runs f with button disabled, showing its error in box (or, if
// the screen was redrawn meanwhile and box is no longer on the page, as
// a toast: an error never goes unseen). While it runs, a live event does
// not redraw the screen under it (refreshSoon).
async function busy(button, box, f) {
  if (box) box.hidden = true;
  if (button) button.disabled = true;
  state.acting++;
  try {
    return await f();
  } catch (err) {
    if (err.code === 'unauthorized' || err.code === 'session_expired') return signedOut(err);
    if (box && box.isConnected) showError(box, err);
    else toast(err.message + (err.hint ? ' — ' + err.hint : ''));
  } finally {
    state.acting--;
    if (button && !button.dataset.held) button.disabled = false;
  }
}

function field(label, input, help) {
  const id = input.id || ('f-' + Math.random().toString(36).slice(2));
  input.id = id;
  const hid = help ? id + '-help' : null;
  if (hid) input.setAttribute('aria-describedby', hid);
  return h('div', {class: 'field'}, h('label', {for: id}, label), input, help ? h('small', {id: hid}, help) : null);
}

function time(t, long) {
  if (!t) return null;
  const d = new Date(t);
  const today = new Date().toDateString() === d.toDateString();
  const text = long || !today ? d.toLocaleString([], {dateStyle: 'medium', timeStyle: 'short'}) : d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
  return h('time', {datetime: d.toISOString()}, text);
}

function size(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KiB';
  return n + ' B';
}

function contact(name) { return state.contacts.find((c) => c.name === name); }
function group(id) { return state.groups.find((g) => g.id === id); }

// who is a name as shown: the display name they chose, then their
// verified name (a display name alone could impersonate).
function who(name) {
  const c = contact(name);
  if (c && c.display_name && c.display_name !== name) return h('span', {class: 'who'}, other(c.display_name), ' ', h('span', {class: 'name'}, '(', other(name), ')'));
  return h('span', {class: 'who'}, other(name));
}

function convTitle(conv) {
  if (conv.startsWith('#')) {
    const g = group(conv.slice(1));
    return g ? g.name : conv;
  }
  const c = contact(conv);
  return c && c.display_name ? c.display_name : conv;
}

// ---------- start

async function boot() {
  try {
    state.info = await api.get('/agent');
  } catch (err) {
    if (err.code === 'unauthorized' || err.code === 'session_expired') return signedOut(err);
    return fatal(err);
  }
  const info = state.info;
  if (!info.identity) return firstRun();
  if (info.locked) return unlockScreen();
  if (!info.name && info.linking) return linkScreen(info.linking, sessionStorage.getItem('parley-link-name') || '');
  if (!info.name) return registerScreen();
  startEvents();
  await refresh();
  route();
}

function fatal(err) {
  document.title = 'Parley';
  replace(top);
  const box = errorBox();
  showError(box, err);
  replace(main, h('h1', {}, 'Parley'), box, h('button', {type: 'button', onclick: () => boot()}, 'Try again'));
}

// signedOut is the page of a browser without a session: never signed in,
// signed out, or its session ended (err, session_expired: too long
// unused, or too old). Whatever the app showed is gone.
function signedOut(err) {
  if (state.events) state.events.close();
  state.events = null;
  state.info = null;
  state.screen++;
  const expired = err && err.code === 'session_expired';
  document.title = expired ? 'Parley: sign in again' : 'Parley: not signed in';
  replace(top);
  replace(main, h('section', {class: 'card'},
    h('h1', {}, expired ? 'Sign in again' : 'Not signed in'),
    expired ? h('p', {role: 'alert'}, err.message + '.') : null,
    h('p', {}, 'Open the address that ', h('code', {}, 'parley web'), ' printed when it started (it begins with ', h('code', {}, 'open http://127.0.0.1:'),
      '). Each address works once, within 15 minutes: for a new one, run ', h('code', {}, 'parley web'), ' again (with one running, a second serves on another port).')));
}

api.onSignedOut((err) => { if (state.info || err.code === 'session_expired') signedOut(err); });

// ---------- first run, unlock, register

function firstRun() {
  document.title = 'Parley: set up this device';
  replace(top);
  const node = h('input', {type: 'url', required: true, autocomplete: 'off', placeholder: 'http://127.0.0.1:26657'});
  const witnesses = h('textarea', {rows: 2});
  const pass = h('input', {type: 'password', required: true, autocomplete: 'new-password', minlength: 12});
  const again = h('input', {type: 'password', required: true, autocomplete: 'new-password'});
  const name = h('input', {type: 'text', autocomplete: 'username', spellcheck: 'false'});
  const phrase = h('textarea', {rows: 2, spellcheck: 'false', autocomplete: 'off'});
  const backup = h('input', {type: 'password', autocomplete: 'off'});
  const label = h('input', {type: 'text', autocomplete: 'off', spellcheck: 'false', value: 'browser', pattern: '[a-z0-9-]{1,32}'});
  const box = errorBox();
  const status = h('p', {role: 'status'});
  const button = h('button', {type: 'submit'}, 'Set up');
  const modes = [['new', 'Create a new identity'], ['link', 'Link this device to a name I already have'],
    ['restore', 'Restore from my backup'], ['recover', 'Recover my name with its recovery phrase']];
  const radios = modes.map(([v, label], i) => {
    const r = h('input', {type: 'radio', name: 'mode', value: v, id: 'mode-' + v, checked: i === 0, onchange: () => show()});
    return h('div', {class: 'check'}, r, h('label', {for: r.id}, label));
  });
  const nameField = field('Your name', name, 'The name registered on the chain.');
  const phraseField = field('Recovery phrase', phrase, 'The words shown when the identity was created.');
  const backupField = field('Backup passphrase', backup, 'The passphrase of the backup on your hubs.');
  const labelField = field('Device label', label, 'Shown to your contacts and on the chain: 1 to 32 of a-z, 0-9 and -.');
  const linkHelp = h('p', {class: 'muted'}, 'This device makes its own keys and shows a link code. A device that already has your name approves it (',
    h('code', {}, 'parley devices add CODE'), ', or Devices in its web app); then your contacts and groups come here, and both devices read and write as you.');
  const mode = () => main.querySelector('input[name=mode]:checked').value;
  const show = () => {
    const m = mode();
    nameField.hidden = m === 'new';
    phraseField.hidden = m !== 'recover';
    backupField.hidden = m === 'new' || m === 'link';
    labelField.hidden = linkHelp.hidden = m !== 'link';
    name.required = m !== 'new';
    phrase.required = m === 'recover';
    backup.required = m === 'restore';
    label.required = m === 'link';
    button.textContent = m === 'link' ? 'Show the link code' : 'Set up';
  };
  const form = h('form', {class: 'card', onsubmit: (e) => {
    e.preventDefault();
    if (pass.value !== again.value) return showError(box, {message: 'The two passphrases differ: type the same one twice.'});
    const chain = {node: node.value.trim(), witnesses: lines(witnesses.value)};
    busy(button, box, async () => {
      const m = mode();
      replace(status, m === 'new' ? 'Creating your keys…' : m === 'restore' ? 'Restoring from your backup…' : m === 'link' ? 'Making this device’s keys and offering them on the chain…' : 'Recovering your name…');
      try {
        if (m === 'link') {
          const want = name.value.trim();
          const off = await api.post('/link', {...chain, label: label.value.trim(), passphrase: pass.value, name: want});
          pass.value = again.value = '';
          sessionStorage.setItem('parley-link-name', want);
          return linkScreen(off.code, want, off);
        } else if (m === 'new') {
          const res = await api.post('/init', {...chain, passphrase: pass.value});
          pass.value = again.value = '';
          if (res && res.recovery_phrase) return recoveryScreen(res.recovery_phrase);
        } else if (m === 'restore') {
          const res = await api.post('/restore', {...chain, name: name.value.trim(), backup_passphrase: backup.value, passphrase: pass.value});
          toast(`Restored ${res.name}: ${res.contacts} contacts, ${res.messages} messages`);
        } else {
          const res = await api.stream('POST', '/recover', {...chain, name: name.value.trim(), recovery_phrase: phrase.value,
            backup_passphrase: backup.value || undefined, passphrase: pass.value}, () => {});
          toast(`Recovered ${res.name}: this device's new keys took effect at block ${res.height}`);
        }
        boot();
      } finally {
        replace(status);
      }
    });
  }},
  h('h1', {}, 'Set up Parley on this device'),
  h('p', {}, 'Your keys are made on this device and never leave it. They are kept encrypted under your passphrase.'),
  h('fieldset', {}, h('legend', {}, 'What to do'), radios),
  field('Chain node', node, 'The address of a Parley chain node (your operator gives it).'),
  field('Witness nodes (optional, one per line)', witnesses, 'Other nodes the light client checks the node against.'),
  linkHelp, nameField, labelField, phraseField, backupField,
  field('Passphrase', pass, 'For this device. At least 12 characters. Nobody can recover it for you.'),
  field('Passphrase again', again),
  status, box, button);
  replace(main, form);
  show();
  node.focus();
}

// linkScreen shows this device's link code (and its QR code) and follows
// the link as it goes: offered, approved by a device of the name, the
// welcome read; then the app opens with what the welcome brought. want
// is the name the person said they have: a device added to another name
// is refused without asking (as 'parley link --name'); without one (the
// page reloaded in another tab), the person is asked.
async function linkScreen(code, want, off) {
  const scr = screen();
  document.title = 'Parley: link this device';
  replace(top);
  const steps = h('ol', {class: 'progress', 'aria-label': 'Linking progress'});
  const status = h('p', {role: 'status'});
  const box = errorBox();
  const step = (...text) => { if (scr.live()) steps.append(h('li', {}, ...text)); };
  const whose = () => want ? [h('strong', {}, other(want))] : ['your name'];
  replace(main, h('section', {class: 'card'},
    h('h1', {}, 'Link this device to ', ...(want ? [other(want)] : ['your name'])),
    h('p', {}, 'On a device of ', ...whose(), ', approve this one with the link code below: in a terminal, ', h('code', {}, 'parley devices add ' + code),
      '; in its web app, open Devices and type the code under “Add a device”. Add it only from your own device: whoever holds the code sees which device it names.'),
    h('p', {class: 'link-code'}, 'Link code: ', h('code', {class: 'safety', id: 'link-code'}, code)),
    h('img', {class: 'qr', src: '/web/qr?text=' + seg(code), alt: 'QR code of the link code ' + code, width: 192, height: 192}),
    steps, status, box));
  const fail = (err) => {
    if (err.code === 'unauthorized' || err.code === 'session_expired') return signedOut(err);
    if (!scr.live()) return;
    replace(status);
    showError(box, err.code === 'no_offer' ? {message: 'This link code expired before a device approved it.',
      hint: 'this device keeps its keys but joined no name: run parley web with another --home to link again, and approve the new code at once'} : err);
  };
  if (!off) {
    // Resumed (a reload): the offer may have expired meanwhile, and a
    // wait for it would never end.
    try {
      off = await api.post('/devices/offer', {code});
    } catch (err) {
      return fail(err);
    }
    if (!scr.live()) return;
  }
  step(`Offered on the chain at block ${off.height}, labelled “${off.label}”.`);
  replace(status, 'Waiting for a device of ', ...whose(), ' to approve this one…');
  let taken;
  try {
    taken = await api.post('/link/wait', {code});
  } catch (err) {
    return fail(err);
  }
  if (!scr.live()) return;
  if (want && taken.taken_by !== want) {
    replace(status);
    return showError(box, {message: `This device was added to “${taken.taken_by}”, not to “${want}”: it does not take it, and reads nothing of theirs.`,
      hint: 'someone who saw the code took it first; this device keeps its keys but joined no name: link again with another --home, and approve the new code at once'});
  }
  step('Approved: the chain lists this device under ', h('strong', {}, other(taken.taken_by)), '.');
  if (!want) {
    // Asked, as parley link asks: a bystander who saw the code could add
    // the device to their name.
    const yes = h('button', {type: 'button'}, `Yes, ${taken.taken_by} is my name`);
    const ask = h('div', {class: 'card', role: 'group', 'aria-label': 'Is this your name?'},
      h('p', {}, 'This device was added to ', h('strong', {}, other(taken.taken_by)), '. Is that your name?'), yes);
    replace(status);
    scr.append(ask);
    yes.focus();
    await new Promise((resolve) => yes.addEventListener('click', resolve, {once: true}));
    ask.remove();
  }
  replace(status, 'Reading the welcome from the hubs of ', other(taken.taken_by), '…');
  let res;
  try {
    res = await api.post('/link/accept', {code, name: taken.taken_by});
  } catch (err) {
    return fail(err);
  }
  sessionStorage.removeItem('parley-link-name');
  step(`Linked as ${res.name}’s ${res.label}${res.approver ? ', approved by ' + res.approver : ''}: ${res.contacts} contacts, ${res.groups} groups, ${res.messages} messages.`);
  replace(status, 'Opening your conversations…');
  toast(`This device is ${res.name}’s ${res.label} now: ${res.contacts} contacts, ${res.groups} groups`);
  boot();
}

// recoveryScreen shows the recovery phrase init drew, until three of its
// words are typed back (checkPhraseScreen); then it is gone from the page.
// note says why it is shown again.
function recoveryScreen(phrase, note) {
  document.title = 'Parley: your recovery phrase';
  const done = h('button', {type: 'button', onclick: () => checkPhraseScreen(phrase)}, 'I wrote it down');
  replace(main, h('section', {class: 'card'},
    h('h1', {}, 'Write down your recovery phrase'),
    note ? h('p', {class: 'error', role: 'alert'}, note) : null,
    h('p', {}, 'With these words alone you can take your name back on a new device if this one is lost. They are shown on this page only and kept nowhere: write them on paper and keep it safe.'),
    h('p', {}, h('code', {class: 'safety', id: 'recovery-phrase'}, phrase)),
    done));
  done.focus();
}

// checkPhraseScreen asks for three words of the phrase, at positions drawn
// at random, as parley init does: a wrong word shows the phrase again.
// A word may be typed in any case, or by its first four letters (no two
// words of the BIP-39 list share them).
function checkPhraseScreen(phrase) {
  document.title = 'Parley: check your recovery phrase';
  const words = phrase.trim().split(/\s+/);
  const picks = [];
  while (picks.length < 3) {
    const i = crypto.getRandomValues(new Uint32Array(1))[0] % words.length;
    if (!picks.includes(i)) picks.push(i);
  }
  picks.sort((a, b) => a - b);
  const inputs = picks.map(() => h('input', {type: 'text', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false'}));
  const matches = (typed, word) => {
    const w = typed.trim().toLowerCase();
    return w === word || (w.length >= 4 && word.startsWith(w));
  };
  replace(main, h('form', {class: 'card', onsubmit: (e) => {
    e.preventDefault();
    const wrong = picks.find((p, i) => !matches(inputs[i].value, words[p]));
    if (wrong !== undefined) return recoveryScreen(phrase, `Word ${wrong + 1} is not the one in your recovery phrase. Here it is again: check what you wrote down.`);
    boot();
  }},
  h('h1', {}, 'Check your recovery phrase'),
  h('p', {}, 'Type these words from what you wrote down, to be sure you can read it when you need it.'),
  ...picks.map((p, i) => field(`Word ${p + 1}`, inputs[i])),
  h('button', {type: 'submit'}, 'Check'),
  h('button', {type: 'button', onclick: () => recoveryScreen(phrase)}, 'Show the words again')));
  inputs[0].focus();
}

function lines(s) { return s.split('\n').map((x) => x.trim()).filter(Boolean); }

function unlockScreen() {
  document.title = 'Parley: unlock';
  replace(top);
  const pass = h('input', {type: 'password', required: true, autocomplete: 'current-password'});
  const box = errorBox();
  const button = h('button', {type: 'submit'}, 'Unlock');
  replace(main, h('form', {class: 'card', onsubmit: (e) => {
    e.preventDefault();
    busy(button, box, async () => {
      await api.post('/unlock', {passphrase: pass.value});
      pass.value = '';
      boot();
    });
  }},
  h('h1', {}, 'Unlock Parley'),
  h('p', {}, 'Your keys on this device are locked. Type your passphrase to open them.'),
  field('Passphrase', pass), box, button));
  pass.focus();
}

const stages = {
  chain_wait: 'Waiting for the chain’s first block',
  preorder: 'Preorder sent (the name stays hidden until it is committed)',
  preorder_committed: 'Preorder committed on the chain',
  resume: 'Resuming an earlier registration',
  register: 'Registration sent: revealing the name',
};

function registerScreen() {
  document.title = 'Parley: choose your name';
  replace(top);
  const name = h('input', {type: 'text', required: true, autocomplete: 'username', spellcheck: 'false'});
  const hubs = h('textarea', {rows: 2, required: true});
  const box = errorBox();
  const progress = h('ol', {class: 'progress', 'aria-label': 'Registration progress'});
  const status = h('p', {role: 'status'});
  const button = h('button', {type: 'submit'}, 'Register');
  replace(main, h('form', {class: 'card', onsubmit: (e) => {
    e.preventDefault();
    replace(progress);
    busy(button, box, async () => {
      replace(status, 'Registering… this takes a few blocks.');
      const res = await api.stream('POST', '/register', {name: name.value.trim(), hubs: lines(hubs.value)}, (p) => {
        progress.append(h('li', {}, stages[p.stage] || p.stage, p.height ? ` (block ${p.height})` : ''));
      });
      replace(status, `Registered ${res.name} at block ${res.height}.`);
      boot();
    }).finally(() => { if (!status.textContent.startsWith('Registered')) replace(status); });
  }},
  h('h1', {}, 'Choose your name'),
  h('p', {}, 'Your name is registered on the Parley chain with your public keys: anyone who looks it up gets your keys, verified.'),
  field('Name', name, 'Lowercase letters, digits and hyphens.'),
  field('Hubs (one per line)', hubs, 'The storage hubs that keep your encrypted messages.'),
  progress, status, box, button));
  name.focus();
}

// ---------- the signed-in app

function header() {
  const reqs = state.requests.length;
  const link = (href, text) => h('a', {href, 'aria-current': location.hash === href || (href === '#/' && (location.hash === '' || location.hash.startsWith('#/c/'))) ? 'page' : null}, text);
  replace(top,
    h('span', {class: 'brand'}, 'Parley'),
    h('span', {class: 'me'}, 'Signed in as ', h('strong', {}, state.info.name)),
    state.offline.size ? h('span', {class: 'offline', role: 'status'}, 'Offline: ' + [...state.offline].join(', ')) : null,
    h('nav', {'aria-label': 'Main'}, h('ul', {},
      h('li', {}, link('#/', 'Chats')),
      h('li', {}, link('#/requests', reqs ? `Requests (${reqs})` : 'Requests')),
      h('li', {}, link('#/add', 'Add contact')),
      h('li', {}, link('#/groups/new', 'New group')),
      h('li', {}, link('#/search', 'Search')),
      h('li', {}, link('#/profile', 'Profile')),
      h('li', {}, link('#/name', 'Your name')),
      h('li', {}, link('#/devices', 'Devices')),
      h('li', {}, link('#/settings', 'Settings')),
      h('li', {}, link('#/status', 'Status')))));
}

// refresh reloads the contacts, groups and requests. Each part that
// answered is kept even when another failed (a contact just accepted
// must be in the lists though the groups call failed); then the first
// failure is thrown.
async function refresh() {
  const [cs, gs, rs] = await Promise.allSettled([
    api.get('/contacts').catch(() => api.get('/contacts?check=0')),
    api.get('/groups?sync=0'),
    api.get('/requests').catch(() => ({requests: []})),
  ]);
  if (cs.status === 'fulfilled') state.contacts = cs.value.contacts || [];
  if (gs.status === 'fulfilled') state.groups = (gs.value.groups || []).filter((g) => !g.gone);
  if (rs.status === 'fulfilled') state.requests = rs.value.requests || [];
  const failed = [cs, gs, rs].find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  await loadLast();
}

// loadLast reads each conversation's newest message for the list.
async function loadLast() {
  const convs = [...state.contacts.map((c) => c.name), ...state.groups.map((g) => '#' + g.id)];
  const got = await Promise.all(convs.map((c) => api.get(`/conversations/${seg(c)}/messages?fetch=0&last=1`).catch(() => null)));
  state.last = {};
  convs.forEach((c, i) => { if (got[i] && got[i].messages && got[i].messages.length) state.last[c] = got[i].messages[got[i].messages.length - 1]; });
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try { await refresh(); } catch { return; }
    header();
    const list = document.getElementById('conv-list');
    if (list) list.replaceWith(convList());
    // Redrawn for a new request, unless the person is answering one:
    // the redraw would drop the answer's outcome (an error, or the move
    // to the conversation).
    if (location.hash === '#/requests' && !state.acting) route();
  }, 150);
}

function startEvents() {
  if (state.events) state.events.close();
  state.events = api.events(['message', 'request', 'receipt', 'key_change', 'expired', 'hub', 'chain', 'warning', 'locked', 'unlocked', 'reset'], onEvent,
    // The stream ended for good (its session ended, or parley web
    // stopped): a call says which, and the page follows.
    () => api.get('/agent').then(() => setTimeout(startEvents, 5000), (err) => { if (err.code !== 'unauthorized' && err.code !== 'session_expired') setTimeout(startEvents, 5000); }));
}

function onEvent(ev) {
  switch (ev.type) {
  case 'message':
    if (state.conv && ev.message && ev.message.conversation === state.conv) {
      loadConversation(true);
      if (ev.message.kind === 'timer') showTimer(state.conv);
    }
    // A contact's new profile: their page shows it at once.
    if (ev.message && ev.message.kind === 'profile' && location.hash === '#/contact/' + seg(ev.message.from)) route();
    refreshSoon();
    break;
  case 'request':
    toast(`New contact request from ${ev.request.from}`);
    refreshSoon();
    break;
  case 'receipt':
  case 'expired':
    if (state.conv && (!ev.conversation || ev.conversation === state.conv)) loadConversation(false);
    break;
  case 'key_change':
    toast(ev.key_change.message);
    refreshSoon();
    if (state.conv === ev.key_change.name) setTimeout(() => route(), 200);
    break;
  case 'hub':
  case 'chain': {
    const what = ev.type === 'hub' ? ev.hub : 'the chain';
    if (ev.up) state.offline.delete(what); else state.offline.add(what);
    header();
    if (location.hash === '#/status') route();
    break;
  }
  case 'warning':
    if (ev.error) toast(ev.error.message);
    break;
  case 'locked':
  case 'unlocked':
  case 'reset':
    boot();
    break;
  }
}

// screen starts a screen (every route starts one too): what it shows
// after an await goes through scr.append, which shows nothing once
// another screen has started. Without it a page's answers arriving
// after the person moved on were added to the screen they moved to.
function screen() {
  const gen = ++state.screen;
  return {
    append: (...nodes) => { if (state.screen === gen) main.append(...nodes); },
    live: () => state.screen === gen,
  };
}

function route() {
  state.screen++;
  const hash = location.hash || '#/';
  const [path, query] = hash.slice(1).split('?');
  const parts = path.split('/').slice(1).map(decodeURIComponent);
  header();
  state.conv = null;
  if (parts[0] === 'c' && parts[1]) return chats(parts[1]);
  switch (parts[0]) {
  case '': return chats(null);
  case 'requests': return requestsScreen();
  case 'add': return addScreen(new URLSearchParams(query || '').get('name') || '');
  case 'contact': return contactScreen(parts[1]);
  case 'groups': return parts[1] === 'new' ? newGroupScreen() : groupScreen(parts[1]);
  case 'search': return searchScreen(new URLSearchParams(query || '').get('q') || '');
  case 'profile': return profileScreen();
  case 'name': return nameScreen();
  case 'devices': return devicesScreen();
  case 'settings': return settingsScreen();
  case 'status': return statusScreen();
  }
  replace(main, h('h1', {}, 'Not found'), h('p', {}, h('a', {href: '#/'}, 'Back to your chats')));
}

window.addEventListener('hashchange', () => { if (state.info && state.info.name && !state.info.locked) route(); });

// ---------- the conversation list

function convList() {
  const items = [];
  const convs = [
    ...state.contacts.map((c) => ({conv: c.name, title: c.display_name || c.name, sub: c.display_name ? c.name : '', unread: c.unread || 0, c})),
    ...state.groups.map((g) => ({conv: '#' + g.id, title: g.name, sub: `group of ${g.members.length}`, unread: 0, g})),
  ];
  convs.sort((a, b) => {
    const ta = state.last[a.conv] ? Date.parse(state.last[a.conv].time || 0) : 0;
    const tb = state.last[b.conv] ? Date.parse(state.last[b.conv].time || 0) : 0;
    return tb - ta || a.title.localeCompare(b.title);
  });
  for (const x of convs) {
    const id = 'cl-' + seg(x.conv).replace(/%/g, '_');
    const last = state.last[x.conv];
    const flags = [];
    if (x.c && x.c.verified) flags.push(h('span', {class: 'flag', title: 'verified in person'}, '✓ verified'));
    if (x.c && x.c.blocked) flags.push(h('span', {class: 'flag warn'}, 'blocked'));
    if (x.c && (x.c.keys === 'changed' || x.c.keys === 'revoked')) flags.push(h('span', {class: 'flag warn'}, 'keys changed'));
    if (x.c && x.c.asking) flags.push(h('span', {class: 'flag'}, 'request ' + x.c.asking));
    items.push(h('li', {},
      h('a', {href: '#/c/' + seg(x.conv), class: 'conv', 'aria-labelledby': id, 'aria-describedby': id + '-d', 'aria-current': state.conv === x.conv ? 'page' : null},
        x.c ? avatar(x.c.name) : h('span', {class: 'avatar group', 'aria-hidden': 'true'}, '#'),
        h('span', {class: 'conv-main'},
          h('span', {class: 'conv-title', id}, other(x.title)),
          h('span', {class: 'conv-sub', id: id + '-d'},
            x.sub ? h('span', {class: 'name'}, other(x.sub), ' ') : null,
            flags,
            last ? h('span', {class: 'snippet'}, snippet(last)) : null,
            x.unread ? h('span', {class: 'badge'}, `${x.unread} unread`) : null)),
        last ? time(last.time) : null)));
  }
  return h('nav', {id: 'conv-list', class: 'conv-list', 'aria-label': 'Conversations'},
    items.length ? h('ul', {}, items) : h('p', {class: 'empty'}, 'No conversations yet. ', h('a', {href: '#/add'}, 'Add a contact'), ' or answer a ', h('a', {href: '#/requests'}, 'request'), '.'));
}

function avatar(name) {
  const img = h('img', {class: 'avatar', alt: '', src: '/web/avatar?name=' + seg(name), width: 36, height: 36, loading: 'lazy'});
  img.addEventListener('error', () => img.replaceWith(h('span', {class: 'avatar', 'aria-hidden': 'true'}, (name[0] || '?').toUpperCase())));
  return img;
}

function snippet(m) {
  let t = m.deleted ? '(deleted)' : m.text || (m.file ? '📎 ' + m.file.name : '');
  if (t.length > 60) t = t.slice(0, 60) + '…';
  return [m.from === state.info.name ? 'You: ' : '', other(t)];
}

// ---------- chats: list and conversation

async function chats(conv) {
  document.title = conv ? `Parley: ${convTitle(conv)}` : 'Parley';
  const pane = h('section', {class: 'conv-pane', 'aria-label': 'Conversation'});
  const layout = h('div', {class: 'chats' + (conv ? ' open' : '')}, convList(), pane);
  replace(main, layout);
  if (!conv) {
    replace(pane, h('p', {class: 'empty'}, 'Choose a conversation.'));
    return;
  }
  state.conv = conv;
  state.replyTo = state.editing = null;
  state.messages = [];
  conversationView(pane, conv);
  await loadConversation(true);
}

function conversationView(pane, conv) {
  const isGroup = conv.startsWith('#');
  const c = isGroup ? null : contact(conv);
  const g = isGroup ? group(conv.slice(1)) : null;
  const title = h('h1', {id: 'conv-title'}, isGroup ? ['Group ', other(g ? g.name : conv)] : who(conv));
  const info = isGroup ? h('a', {href: '#/groups/' + seg(conv.slice(1))}, 'Group details') : h('a', {href: '#/contact/' + seg(conv)}, 'Contact details and safety number');
  const timer = h('select', {id: 'timer-select', 'aria-label': 'Disappearing messages', disabled: true, onchange: () => busy(timer, null, async () => {
    await api.put(`/conversations/${seg(conv)}/timer`, {seconds: Number(timer.value)});
    toast(timer.value === '0' ? 'Disappearing messages off' : 'Disappearing messages set');
  })}, [0, 300, 3600, 86400, 604800].map((v) => h('option', {value: String(v)}, timerText(v))));
  const banner = h('div', {id: 'keys-banner'});
  const log = h('div', {id: 'log-region', class: 'log', role: 'log', 'aria-labelledby': 'conv-title', 'aria-live': 'polite', tabindex: '0'},
    h('ol', {id: 'log', class: 'log-list'}));
  const composer = composerView(conv);
  pane.append(h('div', {class: 'conv-head'}, h('a', {href: '#/', class: 'back'}, '← Chats'), title, h('div', {class: 'conv-tools'}, info, timer)), banner, log, composer);
  if (c && (c.keys === 'changed' || c.keys === 'revoked') && c.key_change) keysBanner(c.key_change);
  showTimer(conv);
  if (c && c.blocked) banner.append(h('p', {class: 'warn'}, 'You blocked ', other(conv), '. ', h('a', {href: '#/contact/' + seg(conv)}, 'Unblock'), ' to write again.'));
  // Drag and drop a file anywhere on the conversation.
  pane.addEventListener('dragover', (e) => { e.preventDefault(); pane.classList.add('drop'); });
  pane.addEventListener('dragleave', () => pane.classList.remove('drop'));
  pane.addEventListener('drop', (e) => {
    e.preventDefault();
    pane.classList.remove('drop');
    for (const f of e.dataTransfer.files) sendFile(conv, f);
  });
}

function timerText(s) { return s ? 'Disappear after ' + duration(s) : 'Messages stay'; }

// showTimer shows the conversation's timer as set now (by either side);
// the selector is usable once it shows it.
async function showTimer(conv) {
  let res;
  try {
    res = await api.get(`/conversations/${seg(conv)}/timer`);
  } catch {
    return;
  }
  const sel = document.getElementById('timer-select');
  if (!sel || state.conv !== conv) return;
  const v = String(res.seconds);
  if (![...sel.options].some((o) => o.value === v)) sel.append(h('option', {value: v}, timerText(res.seconds)));
  sel.value = v;
  sel.disabled = false;
}

// keysBanner holds sending until the person confirms the new keys.
function keysBanner(kc) {
  const banner = document.getElementById('keys-banner');
  if (!banner) return;
  const box = errorBox();
  const button = h('button', {type: 'button', onclick: () => busy(button, box, async () => {
    const res = await api.post(`/contacts/${seg(kc.name)}/confirm`);
    toast(res && res.unchanged ? 'The keys are the confirmed ones.' : 'New keys confirmed: a new request was sent.');
    await refresh();
    route();
  })}, 'I checked: confirm the new keys');
  replace(banner, h('div', {class: 'alert', role: 'alert'},
    h('h2', {}, 'Keys changed: sending is held'),
    h('p', {}, other(kc.message)), kc.hint ? h('p', {}, other(kc.hint)) : null,
    kc.safety ? h('p', {}, 'New safety number: ', h('code', {class: 'safety'}, kc.safety)) : null,
    kc.revoked ? null : button, box));
  const ta = document.getElementById('composer-text');
  if (ta) ta.disabled = true;
  const send = document.getElementById('composer-send');
  if (send) {
    send.disabled = true;
    send.dataset.held = '1'; // until the keys are confirmed (the page is built anew then)
  }
}

function composerView(conv) {
  const box = errorBox();
  const text = h('textarea', {id: 'composer-text', 'aria-label': 'Message', rows: 2, placeholder: 'Write a message'});
  const context = h('div', {id: 'composer-context', class: 'composer-context'});
  const progress = h('div', {id: 'file-progress', class: 'file-progress', role: 'status'});
  const file = h('input', {type: 'file', id: 'composer-file', class: 'visually-hidden', multiple: true, onchange: () => {
    for (const f of file.files) sendFile(conv, f);
    file.value = '';
  }});
  const send = h('button', {type: 'submit', id: 'composer-send'}, 'Send');
  const form = h('form', {class: 'composer', onsubmit: (e) => {
    e.preventDefault();
    const t = text.value;
    if (!t.trim()) return;
    busy(send, box, async () => {
      try {
        if (state.editing) {
          await api.post(`/conversations/${seg(conv)}/edit`, {ref: state.editing.label, text: t});
        } else {
          const res = await api.post(`/conversations/${seg(conv)}/messages`, {text: t, reply: state.replyTo ? state.replyTo.label : undefined});
          if (res && res.queued) toast(res.queued.why);
        }
      } catch (err) {
        // The contact's keys changed: nothing goes until the person confirms.
        if (err.keyChange) keysBanner(err.keyChange);
        throw err;
      }
      text.value = '';
      setContext(null, null);
      await loadConversation(false);
    }).then(() => text.focus());
  }},
  context, progress, box,
  h('div', {class: 'composer-row'},
    text,
    h('label', {for: 'composer-file', class: 'button secondary'}, 'Attach file'),
    file,
    send));
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  return form;
}

function setContext(replyTo, editing) {
  state.replyTo = replyTo;
  state.editing = editing;
  const ctx = document.getElementById('composer-context');
  const text = document.getElementById('composer-text');
  if (!ctx) return;
  const m = replyTo || editing;
  if (!m) {
    replace(ctx);
    return;
  }
  replace(ctx, h('span', {}, replyTo ? 'Replying to ' : 'Editing ', other(m.from), ': ', h('q', {}, other(short(m.text || (m.file ? m.file.name : ''))))),
    h('button', {type: 'button', class: 'link', onclick: () => { setContext(null, null); if (editing) text.value = ''; }}, 'Cancel'));
  if (editing) text.value = editing.text;
  text.focus();
}

function short(t) { return t.length > 80 ? t.slice(0, 80) + '…' : t; }

async function sendFile(conv, f) {
  const progress = document.getElementById('file-progress');
  const bar = h('progress', {max: 100, value: 0, 'aria-label': `Sending ${f.name}`});
  const label = h('span', {}, 'Sending ', other(f.name), '…');
  const row = h('div', {}, label, bar);
  if (progress) progress.append(row);
  try {
    await api.upload(conv, f, '', (stage, done, total) => {
      const pct = total > 0 && done >= 0 ? Math.min(100, Math.round(100 * done / total)) : 0;
      // The upload to parley web is the first half, the agent's sending the second.
      bar.value = stage === 'upload' ? pct / 2 : 50 + pct / 2;
    });
    row.remove();
    toast(`Sent ${f.name}`);
    if (state.conv === conv) loadConversation(false);
  } catch (err) {
    if (err.code === 'unauthorized' || err.code === 'session_expired') return signedOut(err);
    replace(row, h('span', {class: 'error', role: 'alert'}, 'Could not send ', other(f.name), ': ', err.message));
  }
}

let loading = null;
async function loadConversation(markRead) {
  const conv = state.conv;
  if (!conv) return;
  if (loading) { loading.again = loading.again || markRead || true; return; }
  loading = {again: false};
  try {
    const res = await api.get(`/conversations/${seg(conv)}/messages?fetch=0&last=500`);
    if (state.conv !== conv) return;
    state.messages = res.messages || [];
    state.label = res.label;
    renderLog();
    if (markRead && document.visibilityState === 'visible') {
      await api.post(`/conversations/${seg(conv)}/read`).catch(() => {});
    }
  } catch (err) {
    if (err.code === 'unauthorized' || err.code === 'session_expired') return signedOut(err);
    const log = document.getElementById('log');
    if (log) replace(log, h('li', {class: 'error', role: 'alert'}, err.message));
  } finally {
    const again = loading.again;
    loading = null;
    if (again) loadConversation(again === true);
  }
}

const shown = new Set(['text', 'timer', 'notice', 'group', 'unsupported']);

function renderLog() {
  const log = document.getElementById('log');
  const region = document.getElementById('log-region');
  if (!log || !region) return;
  const atBottom = region.scrollHeight - region.scrollTop - region.clientHeight < 40;
  const byKey = new Map();
  for (const li of log.children) if (li.dataset.key) byKey.set(li.dataset.key, li);
  const keep = [];
  for (const m of state.messages) {
    if (!shown.has(m.kind)) continue;
    const key = m.id.by + '/' + m.id.seq;
    const sig = JSON.stringify([m.text, m.state, m.edited, m.deleted, m.reactions, m.expires, m.ref_label]);
    let li = byKey.get(key);
    if (!li || li.dataset.sig !== sig) li = messageView(m, key, sig);
    keep.push(li);
  }
  if (keep.length === 0) keep.push(h('li', {class: 'empty'}, 'No messages yet.'));
  // Only what changed is replaced: a screen reader hears the new ones.
  let i = 0;
  for (const li of keep) {
    if (log.children[i] !== li) log.insertBefore(li, log.children[i] || null);
    i++;
  }
  while (log.children.length > keep.length) log.lastChild.remove();
  // The conversation is usable: marked for the benchmarks (User Timing).
  if (!performance.getEntriesByName('conversation-shown').length) performance.mark('conversation-shown');
  if (atBottom || !region.dataset.scrolled) {
    region.scrollTop = region.scrollHeight;
    region.dataset.scrolled = '1';
  }
}

function messageView(m, key, sig) {
  const mine = m.from === state.info.name;
  const conv = m.conversation;
  if (m.kind === 'notice' || m.kind === 'group' || m.kind === 'timer') {
    let t = m.text;
    if (m.kind === 'timer') t = m.ttl ? `${m.from} set disappearing messages to ${duration(m.ttl)}` : `${m.from} turned disappearing messages off`;
    return h('li', {class: 'msg notice', 'data-key': key, 'data-sig': sig}, other(t), ' ', time(m.time));
  }
  const body = [];
  if (m.ref) {
    const q = state.messages.find((x) => x.id.by === m.ref.by && x.id.seq === m.ref.seq);
    body.push(h('blockquote', {class: 'quote'}, h('span', {class: 'visually-hidden'}, 'In reply to '), other(q ? q.from : m.ref.by), ': ', other(q ? short(q.deleted ? '(deleted)' : q.text || (q.file ? q.file.name : '')) : '(a message this device does not hold)')));
  }
  if (m.deleted) body.push(h('p', {class: 'text deleted'}, '(deleted)'));
  else if (m.kind === 'unsupported') body.push(h('p', {class: 'text deleted'}, '(a message this version cannot show)'));
  else if (m.text) body.push(h('p', {class: 'text'}, other(m.text)));
  if (m.file && !m.deleted) body.push(fileView(conv, m));
  const reactions = Object.entries(m.reactions || {}).sort();
  const actions = [];
  if (!m.deleted && m.label) {
    // Each action is named with the message's reference (as the CLI's).
    actions.push(h('button', {type: 'button', class: 'link', 'aria-label': `Reply to ${m.label}`, onclick: () => setContext(m, null)}, 'Reply'));
    for (const e of ['👍', '❤️', '😂']) {
      const mineR = (m.reactions || {})[state.info.name] === e;
      actions.push(h('button', {type: 'button', class: 'link', 'aria-pressed': mineR ? 'true' : 'false', 'aria-label': `React ${e} to ${m.label}`, onclick: (ev) => busy(ev.currentTarget, null, async () => {
        await api.post(`/conversations/${seg(conv)}/react`, {ref: m.label, emoji: mineR ? '' : e});
        loadConversation(false);
      })}, e));
    }
    if (mine && m.kind === 'text' && !m.file) actions.push(h('button', {type: 'button', class: 'link', 'aria-label': `Edit ${m.label}`, onclick: () => setContext(null, m)}, 'Edit'));
    if (mine) {
      const del = h('button', {type: 'button', class: 'link', 'aria-label': `Delete ${m.label}`, onclick: () => {
        // Asked once more, in place: deleting is for both sides.
        const sure = h('button', {type: 'button', class: 'link danger', 'aria-label': `Delete ${m.label} for everyone`, onclick: () => busy(sure, null, async () => {
          await api.post(`/conversations/${seg(conv)}/delete`, {ref: m.label});
          loadConversation(false);
        })}, 'Delete for everyone');
        del.replaceWith(sure);
        sure.focus();
      }}, 'Delete');
      actions.push(del);
    }
  }
  return h('li', {class: 'msg ' + (mine ? 'mine' : 'theirs'), 'data-key': key, 'data-sig': sig, 'data-label': m.label || null},
    h('div', {class: 'meta'}, h('span', {class: 'from'}, mine ? 'You' : who(m.from)), ' ', time(m.time),
      m.edited ? h('span', {class: 'edited'}, ' (edited)') : null,
      m.expires ? h('span', {class: 'expires'}, ' disappears ', time(m.expires)) : null,
      mine && m.state ? h('span', {class: 'state'}, ' ', stateText(m.state)) : null,
      m.earlier ? h('span', {class: 'earlier'}, ' (before the conversation started over)') : null),
    body,
    reactions.length ? h('p', {class: 'reactions'}, h('span', {class: 'visually-hidden'}, 'Reactions: '), reactions.map(([n, e]) => h('span', {class: 'reaction'}, e, ' ', other(n)))) : null,
    actions.length ? h('div', {class: 'actions'}, actions) : null);
}

function stateText(s) {
  return {queued: '· queued on this device', sent: '· sent', delivered: '· delivered', read: '· read'}[s] || '· ' + s;
}

function duration(s) {
  if (s % 86400 === 0) return `${s / 86400} day${s === 86400 ? '' : 's'}`;
  if (s % 3600 === 0) return `${s / 3600} hour${s === 3600 ? '' : 's'}`;
  if (s % 60 === 0) return `${s / 60} minute${s === 60 ? '' : 's'}`;
  return `${s} seconds`;
}

const imageName = /\.(png|jpe?g|gif|webp)$/i;

function fileView(conv, m) {
  const f = m.file;
  const parts = [h('span', {class: 'file-name'}, '📎 ', other(f.name)), ' ', h('span', {class: 'file-size'}, `(${size(f.size)})`), ' ',
    h('a', {href: api.fileURL(conv, m.label), download: '', class: 'button secondary', 'aria-label': `Download ${f.name}`}, 'Download')];
  if (imageName.test(f.name) && f.size <= 20 << 20) {
    const img = h('img', {class: 'preview', alt: `Image ${f.name}`, loading: 'lazy', src: api.fileURL(conv, m.label, true)});
    img.addEventListener('error', () => img.remove());
    parts.push(h('div', {}, img));
  }
  return h('div', {class: 'file'}, parts);
}

// ---------- requests and adding contacts

async function requestsScreen() {
  const scr = screen();
  document.title = 'Parley: contact requests';
  const list = h('ul', {class: 'cards'});
  const box = errorBox();
  replace(main, h('h1', {}, 'Contact requests'), box, list);
  let rs;
  try {
    rs = await api.get('/requests');
  } catch (err) {
    return showError(box, err);
  }
  state.requests = rs.requests || [];
  header();
  if (!state.requests.length) list.append(h('li', {class: 'empty'}, 'No requests waiting.'));
  for (const r of state.requests) {
    const rbox = errorBox();
    const accept = h('button', {type: 'button', 'aria-label': `Accept ${r.from}`, onclick: () => busy(accept, rbox, async () => {
      let failed = null;
      await api.post(`/contacts/${seg(r.from)}/accept`).catch((err) => { failed = err; });
      // The list as it is now: a refresh that fails (a busy agent) keeps
      // the one before, and does not stop the person reaching the
      // conversation they accepted.
      await refresh().catch(() => {});
      if (failed && (failed.code === 'unauthorized' || failed.code === 'session_expired' || !contact(r.from))) throw failed;
      // Accepted, even if a later step said something (the error as a toast).
      if (failed) toast(failed.message);
      location.hash = '#/c/' + seg(r.from);
    })}, 'Accept');
    const decline = h('button', {type: 'button', class: 'secondary', 'aria-label': `Decline ${r.from}`, onclick: () => busy(decline, rbox, async () => {
      await api.post(`/contacts/${seg(r.from)}/decline`);
      await refresh();
      route();
    })}, 'Decline');
    list.append(h('li', {class: 'card request'},
      h('h2', {}, other(r.from)),
      h('p', {class: 'muted'}, 'Signature checked against the chain. ', time(r.time, true)),
      r.greeting ? h('blockquote', {class: 'greeting'}, other(r.greeting)) : h('p', {class: 'muted'}, 'No greeting.'),
      h('p', {}, h('a', {href: '#/add?name=' + seg(r.from)}, 'Look up ', other(r.from), '’s verified record')),
      rbox, h('div', {class: 'buttons'}, accept, decline)));
  }
  if (rs.waiting && rs.waiting.length) scr.append(h('p', {class: 'muted'}, `${rs.waiting.length} request(s) from names not on the chain yet are kept and checked again.`));
  const junk = (rs.refused || []).filter((r) => r.junk);
  if (junk.length) {
    const jbox = errorBox();
    const clear = h('button', {type: 'button', class: 'secondary', onclick: () => busy(clear, jbox, async () => {
      const res = await api.post('/requests/clear');
      const removed = res.removed || [];
      replace(card, h('h2', {}, 'Junk in your inbox'), h('p', {role: 'status'}, `Removed ${removed.length} envelope${removed.length === 1 ? '' : 's'} that could never be opened.`),
        removed.length ? h('ul', {}, removed.map((r) => h('li', {}, other(r.reason), ' (', other(r.hub), ')'))) : null);
    })}, 'Remove them');
    const card = h('section', {class: 'card', 'aria-labelledby': 'junk-h'}, h('h2', {id: 'junk-h'}, 'Junk in your inbox'),
      h('p', {}, `${junk.length} envelope${junk.length === 1 ? '' : 's'} in your inbox can never be opened (not sealed to your keys, or malformed). They take room that real requests need.`),
      h('ul', {}, junk.map((r) => h('li', {}, other(r.reason)))), jbox, clear);
    scr.append(card);
  }
}

function recordView(w) {
  const r = w.record;
  return h('section', {class: 'card record', 'aria-label': 'Verified record'},
    h('h2', {}, other(r.name), w.cached ? ' (as verified earlier: the chain does not answer)' : ' — verified by proof'),
    h('dl', {},
      h('dt', {}, 'Owner key'), h('dd', {}, h('code', {}, r.owner)),
      r.signing_key ? [h('dt', {}, 'Signing key'), h('dd', {}, h('code', {}, r.signing_key))] : null,
      (r.enc_keys || []).map((k) => [h('dt', {}, 'Encryption key (' + k.kem + ')'), h('dd', {}, h('code', {class: 'key'}, k.key.slice(0, 32) + '…'))]),
      h('dt', {}, 'Hubs'), h('dd', {}, (r.hubs || []).map((u) => h('div', {}, other(u)))),
      h('dt', {}, 'Record changes'), h('dd', {}, (w.history || []).map((e) => h('div', {}, `${e.op} at block ${e.height}`))),
      r.revoked ? [h('dt', {}, 'State'), h('dd', {class: 'warn'}, 'revoked')] : null,
      w.safety ? [h('dt', {}, 'Safety number'), h('dd', {}, h('code', {class: 'safety'}, w.safety))] : null));
}

function addScreen(initial) {
  document.title = 'Parley: add a contact';
  const name = h('input', {type: 'text', required: true, spellcheck: 'false', value: initial, autocomplete: 'off'});
  const box = errorBox();
  const out = h('div', {});
  const look = h('button', {type: 'submit'}, 'Look up');
  const lookup = h('form', {class: 'card', onsubmit: (e) => {
    e.preventDefault();
    replace(out);
    busy(look, box, async () => {
      const n = name.value.trim();
      const w = await api.get('/names/' + seg(n));
      const greeting = h('textarea', {rows: 2, id: 'greeting'});
      const sbox = errorBox();
      const send = h('button', {type: 'submit'}, 'Send request');
      replace(out, recordView(w), contact(n) ? h('p', {}, other(n), ' is a contact already. ', h('a', {href: '#/c/' + seg(n)}, 'Open the conversation')) :
        h('form', {class: 'card', onsubmit: (e) => {
          e.preventDefault();
          busy(send, sbox, async () => {
            const res = await api.post('/contacts', {name: n, greeting: greeting.value});
            const what = {sent: 'Request sent, sealed to their verified key.', introduced: 'Introduced: a contact now.'}[res.outcome] || (res.queued ? res.queued.why : 'Request ' + res.outcome.replace('_', ' ') + '.');
            replace(out, h('p', {role: 'status'}, other(what)), h('p', {}, h('a', {href: '#/c/' + seg(n)}, 'Open the conversation')));
            await refresh();
            header();
          });
        }}, field('Greeting', greeting, 'The first message they see with your request.'), sbox, send));
    });
  }}, h('h1', {}, 'Add a contact'), h('p', {}, 'Look a name up on the chain: its record is verified by proof before anything is sent.'),
  field('Name', name), box, look);
  replace(main, lookup, out);
  name.focus();
  if (initial) lookup.requestSubmit();
}

// ---------- a contact: safety number, verification, block

async function contactScreen(name) {
  const scr = screen();
  document.title = `Parley: ${name}`;
  const box = errorBox();
  replace(main, h('h1', {}, 'Contact ', other(name)), box);
  await refresh().catch(() => {});
  const c = contact(name);
  if (!c) {
    scr.append(h('p', {}, other(name), ' is not a contact. ', h('a', {href: '#/add?name=' + seg(name)}, 'Look them up')));
    return;
  }
  let profile = {};
  try { profile = await api.get(`/contacts/${seg(name)}/profile?fetch=1`); } catch { /* none shared */ }
  scr.append(h('section', {class: 'card profile'}, avatar(name),
    h('div', {}, profile.display_name ? h('p', {}, 'Display name: ', other(profile.display_name)) : null,
      profile.status ? h('p', {}, 'Status: ', other(profile.status)) : null,
      h('p', {}, 'Keys: ', keysText(c)),
      h('p', {}, c.verified ? '✓ Verified in person' : 'Not verified in person yet'))));
  if (c.key_change) {
    scr.append(h('div', {id: 'keys-banner'}));
    keysBanner(c.key_change);
  }
  try {
    const s = await api.get(`/contacts/${seg(name)}/safety`);
    const vbox = errorBox();
    const number = h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false'});
    const verify = h('button', {type: 'submit'}, 'Mark verified');
    const unverify = h('button', {type: 'button', class: 'secondary', onclick: () => busy(unverify, vbox, async () => {
      await api.post(`/contacts/${seg(name)}/unverify`);
      contactScreen(name);
    })}, 'Mark not verified');
    scr.append(h('section', {class: 'card safety-card', 'aria-labelledby': 'safety-h'},
      h('h2', {id: 'safety-h'}, 'Safety number'),
      h('p', {}, 'Compare this number with the one ', other(name), ' sees for you, in person or on a call you trust. If they match, nobody is in between.'),
      h('p', {}, h('code', {class: 'safety', id: 'safety-number'}, s.safety)),
      h('img', {class: 'qr', src: '/web/qr?text=' + seg(s.safety), alt: 'QR code of the safety number', width: 192, height: 192}),
      c.verified ? unverify : h('form', {onsubmit: (e) => {
        e.preventDefault();
        busy(verify, vbox, async () => {
          await api.post(`/contacts/${seg(name)}/verify`, {number: number.value});
          toast(`${name} marked verified`);
          contactScreen(name);
        });
      }}, field('The number ' + name + ' reads to you', number, 'Type the number they read (or scanned): it must match.'), verify),
      vbox));
  } catch (err) {
    scr.append(h('p', {class: 'muted'}, 'No safety number: ', err.message));
  }
  const abox = errorBox();
  const block = h('button', {type: 'button', class: 'danger', onclick: () => busy(block, abox, async () => {
    if (c.blocked) await api.del('/blocked/' + seg(name));
    else await api.post('/blocked', {name});
    await refresh();
    contactScreen(name);
  })}, c.blocked ? 'Unblock ' + name : 'Block ' + name);
  // Starting over: a new request (the other side accepts it again); the
  // messages so far stay, shown as earlier.
  const greeting = h('textarea', {rows: 2});
  const reset = h('button', {type: 'submit', class: 'secondary'}, 'Start the conversation over');
  const resetForm = h('form', {onsubmit: (e) => {
    e.preventDefault();
    busy(reset, abox, async () => {
      await api.post(`/contacts/${seg(name)}/reset`, {greeting: greeting.value});
      toast(`A new request went to ${name}: the conversation goes on once they accept it`);
      await refresh();
      contactScreen(name);
    });
  }}, h('h3', {}, 'Start over'),
  h('p', {}, 'If ', other(name), ' lost their device or removed you, a new request starts the conversation again. What you wrote so far stays here, marked as earlier.'),
  field('Greeting for the new request', greeting), reset);
  // Removing is asked again in place.
  const remove = h('button', {type: 'button', class: 'danger', onclick: () => {
    const sure = h('button', {type: 'button', class: 'danger', onclick: () => busy(sure, abox, async () => {
      await api.del('/contacts/' + seg(name));
      toast(`${name} removed`);
      await refresh();
      location.hash = '#/';
    })}, `Remove ${name} and the conversation for good`);
    remove.replaceWith(sure);
    sure.focus();
  }}, 'Remove ' + name);
  scr.append(h('section', {class: 'card'}, h('h2', {}, 'Actions'), h('p', {}, h('a', {href: '#/c/' + seg(name)}, 'Open the conversation')), abox,
    h('div', {class: 'buttons'}, block, remove), resetForm));
}

function keysText(c) {
  return {confirmed: 'as you confirmed them, checked on the chain now', changed: 'CHANGED on the chain: sending is held until you confirm', revoked: 'the name was revoked', unchecked: 'not checked (the chain does not answer)', error: 'could not be checked'}[c.keys] || c.keys;
}

// ---------- groups

function newGroupScreen() {
  document.title = 'Parley: new group';
  const name = h('input', {type: 'text', required: true, autocomplete: 'off'});
  const box = errorBox();
  const checks = state.contacts.filter((c) => !c.blocked).map((c) => {
    const cb = h('input', {type: 'checkbox', value: c.name, id: 'm-' + seg(c.name).replace(/%/g, '_')});
    return h('div', {class: 'check'}, cb, h('label', {for: cb.id}, other(c.display_name || c.name)));
  });
  const create = h('button', {type: 'submit'}, 'Create group');
  replace(main, h('form', {class: 'card', onsubmit: (e) => {
    e.preventDefault();
    const members = [...main.querySelectorAll('input[type=checkbox]:checked')].map((x) => x.value);
    busy(create, box, async () => {
      const res = await api.post('/groups', {name: name.value.trim(), members});
      await refresh();
      location.hash = '#/c/' + seg('#' + res.id);
    });
  }}, h('h1', {}, 'New group'), field('Group name', name),
  h('fieldset', {}, h('legend', {}, 'Members'), checks.length ? checks : h('p', {}, 'Add contacts first.')), box, create));
  name.focus();
}

async function groupScreen(id) {
  const scr = screen();
  const box = errorBox();
  replace(main, h('h1', {}, 'Group'), box);
  let d;
  try {
    d = await api.get('/groups/' + seg(id));
  } catch (err) {
    return showError(box, err);
  }
  if (!scr.live()) return;
  const g = d.group;
  document.title = `Parley: group ${g.name}`;
  replace(main.querySelector('h1'), 'Group ', other(g.name));
  const me = state.info.name;
  const act = (action, body, label) => {
    const b = h('button', {type: 'button', class: action === 'remove' || action === 'leave' ? 'danger' : 'secondary', onclick: () => busy(b, box, async () => {
      await api.post(`/groups/${seg(id)}/${action}`, body);
      await refresh();
      groupScreen(id);
    })}, label);
    return b;
  };
  scr.append(h('p', {}, h('a', {href: '#/c/' + seg('#' + id)}, 'Open the conversation')),
    h('section', {class: 'card'}, h('h2', {}, 'Members'), h('ul', {}, g.members.map((m) => h('li', {}, other(m), m === g.creator ? ' (creator)' : '', m === me ? ' (you)' : '',
      g.creator === me && m !== me ? [' ', act('remove', {name: m}, 'Remove ' + m)] : null)))),
    d.key_changes && d.key_changes.length ? h('div', {class: 'alert', role: 'alert'}, d.key_changes.map((k) => h('p', {}, other(k.message)))) : null);
  if (g.gone) {
    scr.append(h('p', {}, 'You are no longer in this group.'));
    return;
  }
  const invitable = state.contacts.filter((c) => !g.members.includes(c.name));
  const who = h('select', {'aria-label': 'Contact to invite'}, invitable.map((c) => h('option', {value: c.name}, other(c.name))));
  const invite = h('button', {type: 'button', onclick: () => busy(invite, box, async () => {
    await api.post(`/groups/${seg(id)}/invite`, {name: who.value});
    await refresh();
    groupScreen(id);
  })}, 'Invite');
  const newName = h('input', {type: 'text', value: g.name});
  const rename = h('button', {type: 'button', class: 'secondary', onclick: () => busy(rename, box, async () => {
    await api.post(`/groups/${seg(id)}/rename`, {name: newName.value.trim()});
    await refresh();
    groupScreen(id);
  })}, 'Rename');
  scr.append(h('section', {class: 'card'}, h('h2', {}, 'Change the group'),
    invitable.length ? h('div', {class: 'row'}, who, invite) : null,
    h('div', {class: 'row'}, field('New name', newName), rename),
    h('p', {}, act('leave', undefined, 'Leave the group'))));
}

// ---------- search, profile, settings, status

async function searchScreen(q) {
  document.title = 'Parley: search';
  const input = h('input', {type: 'search', value: q, autocomplete: 'off'});
  const box = errorBox();
  const results = h('ul', {class: 'results', 'aria-label': 'Results'});
  const go = h('button', {type: 'submit'}, 'Search');
  replace(main, h('form', {role: 'search', onsubmit: (e) => {
    e.preventDefault();
    history.replaceState(null, '', '#/search?q=' + seg(input.value));
    run();
  }}, h('h1', {}, 'Search messages'), field('Words to find', input), go), box, results);
  const run = () => busy(go, box, async () => {
    replace(results);
    if (!input.value.trim()) return;
    const res = await api.get('/search?q=' + seg(input.value));
    const ms = res.messages || [];
    if (!ms.length) results.append(h('li', {class: 'empty'}, 'Nothing found.'));
    for (const m of ms) {
      results.append(h('li', {}, h('a', {href: '#/c/' + seg(m.conversation)}, other(convTitle(m.conversation))), ' ', time(m.time, true), h('br'), other(m.from), ': ', other(short(m.text || ''))));
    }
  });
  input.focus();
  if (q) run();
}

async function profileScreen() {
  const scr = screen();
  document.title = 'Parley: your profile';
  const box = errorBox();
  replace(main, h('h1', {}, 'Your profile'), box);
  let p = {};
  try { p = await api.get('/profile'); } catch (err) { if (err.code !== 'no_profile') showError(box, err); }
  const dn = h('input', {type: 'text', value: p.display_name || '', autocomplete: 'off'});
  const st = h('input', {type: 'text', value: p.status || '', autocomplete: 'off'});
  const av = h('input', {type: 'file', accept: 'image/png,image/jpeg,image/gif'});
  const save = h('button', {type: 'submit'}, 'Save and share with contacts');
  const img = h('img', {class: 'avatar big', alt: 'Your avatar', src: '/web/avatar?t=' + Date.now(), width: 96, height: 96});
  img.addEventListener('error', () => { img.hidden = true; });
  scr.append(h('form', {class: 'card', onsubmit: (e) => {
    e.preventDefault();
    busy(save, box, async () => {
      const u = {display_name: dn.value, status: st.value};
      if (av.files[0]) u.avatar = await base64(av.files[0]);
      await api.put('/profile', u);
      toast('Profile saved and shared with your contacts');
      profileScreen();
    });
  }}, img, field('Display name', dn, 'Shown to your contacts beside your name ' + state.info.name + '.'), field('Status', st), field('Avatar image', av, 'PNG, JPEG or GIF, small.'), save));
}

async function base64(file) {
  const b = new Uint8Array(await file.arrayBuffer());
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

async function settingsScreen() {
  const scr = screen();
  document.title = 'Parley: settings';
  const box = errorBox();
  replace(main, h('h1', {}, 'Settings'), box);
  let s, st;
  try {
    [s, st] = await Promise.all([api.get('/settings'), api.get('/status').catch(() => null)]);
  } catch (err) {
    return showError(box, err);
  }
  const toggle = (label, on, path) => {
    const cb = h('input', {type: 'checkbox', checked: on, onchange: () => busy(cb, box, async () => {
      await api.put(path, {on: cb.checked});
      toast(label + (cb.checked ? ' on' : ' off'));
    })});
    return h('div', {class: 'check'}, cb, h('label', {for: cb.id = 'set-' + path.replace(/\W/g, '')}, label));
  };
  const bpass = h('input', {type: 'password', autocomplete: 'new-password'});
  const backupOn = st && st.backup;
  const bbutton = h('button', {type: 'submit'}, backupOn ? 'Turn backup off' : 'Turn backup on');
  const node = h('input', {type: 'url', value: s.node});
  const wit = h('textarea', {rows: 2, value: (s.witnesses || []).join('\n')});
  const nbutton = h('button', {type: 'submit'}, 'Use this node');
  scr.append(
    h('section', {class: 'card'}, h('h2', {}, 'Privacy'),
      toggle('Send read receipts', s.read_receipts, '/settings/read-receipts'),
      toggle('Desktop notifications (from the agent)', s.notifications, '/settings/notifications')),
    h('form', {class: 'card', onsubmit: (e) => {
      e.preventDefault();
      busy(bbutton, box, async () => {
        await api.put('/backup', backupOn ? {on: false} : {on: true, passphrase: bpass.value});
        toast(backupOn ? 'Backup off' : 'Backup on');
        settingsScreen();
      });
    }}, h('h2', {}, 'Backup'), h('p', {}, backupOn ? 'Your identity, contacts and history are backed up, encrypted, on your hubs.' : 'Backup is off.'),
    backupOn ? null : field('Backup passphrase', bpass, 'Needed to restore on another device. Not your device passphrase.'), bbutton),
    h('form', {class: 'card', onsubmit: (e) => {
      e.preventDefault();
      busy(nbutton, box, async () => {
        const res = await api.put('/settings/node', {node: node.value.trim(), witnesses: lines(wit.value)});
        toast(`Now asking ${res.node} (chain ${res.chain_id})`);
      });
    }}, h('h2', {}, 'Chain node'), field('Node', node), field('Witnesses (one per line)', wit), nbutton),
    h('section', {class: 'card'}, h('h2', {}, 'Blocked'),
      (s.blocked || []).length ? h('ul', {}, s.blocked.map((n) => {
        const b = h('button', {type: 'button', class: 'secondary', 'aria-label': 'Unblock ' + n, onclick: () => busy(b, box, async () => {
          await api.del('/blocked/' + seg(n));
          settingsScreen();
        })}, 'Unblock');
        return h('li', {}, other(n), ' ', b);
      })) : h('p', {}, 'Nobody.')),
    passphraseForm(),
    h('section', {class: 'card'}, h('h2', {}, 'This browser'),
      h('button', {type: 'button', class: 'secondary', onclick: async () => {
        await fetch('/logout', {method: 'POST', credentials: 'same-origin'});
        signedOut();
      }}, 'Sign out')));
}

// passphraseForm changes the passphrase the keys on this device are
// sealed under.
function passphraseForm() {
  const cur = h('input', {type: 'password', required: true, autocomplete: 'current-password'});
  const next = h('input', {type: 'password', required: true, autocomplete: 'new-password', minlength: 12});
  const again = h('input', {type: 'password', required: true, autocomplete: 'new-password'});
  const box = errorBox();
  const status = h('p', {role: 'status'});
  const button = h('button', {type: 'submit'}, 'Change passphrase');
  return h('form', {class: 'card', onsubmit: (e) => {
    e.preventDefault();
    replace(status);
    if (next.value !== again.value) return showError(box, {message: 'The two new passphrases differ: type the same one twice.'});
    busy(button, box, async () => {
      await api.post('/passphrase', {current: cur.value, new: next.value});
      cur.value = next.value = again.value = '';
      replace(status, 'Passphrase changed: the keys on this device now open with the new one only.');
    });
  }}, h('h2', {}, 'Passphrase'), h('p', {}, 'The passphrase that opens your keys on this device.'),
  field('Current passphrase', cur), field('New passphrase', next, 'At least 12 characters. Nobody can recover it for you.'), field('New passphrase again', again),
  status, box, button);
}

// ---------- the user's name: renew, hubs, revoke

async function nameScreen() {
  const scr = screen();
  document.title = 'Parley: your name';
  const box = errorBox();
  replace(main, h('h1', {}, 'Your name'), box);
  let n;
  try {
    n = await api.get('/name');
  } catch (err) {
    return showError(box, err);
  }
  const me = n.name;
  const expiry = h('dd', {id: 'name-expiry'}, n.expiry || `expires at height ${n.expires_at}`);
  const hubList = h('dd', {id: 'name-hubs'}, (n.hubs || []).map((u) => h('div', {}, other(u))));
  scr.append(h('section', {class: 'card', 'aria-labelledby': 'name-h'}, h('h2', {id: 'name-h'}, 'On the chain'), h('dl', {},
    h('dt', {}, 'Name'), h('dd', {}, me),
    h('dt', {}, 'Expiry'), expiry,
    h('dt', {}, 'Verified height'), h('dd', {}, String(n.height)),
    h('dt', {}, 'Hubs'), hubList)));

  // Renew.
  const rbox = errorBox();
  const rstatus = h('p', {role: 'status'});
  const renew = h('button', {type: 'button', onclick: () => busy(renew, rbox, async () => {
    replace(rstatus, 'Renewing… this takes a block or two.');
    try {
      const res = await api.post('/name/renew');
      replace(rstatus, `Renewed at block ${res.height}: ${res.name} now expires at height ${res.expires_at}.`);
      replace(expiry, `expires at height ${res.expires_at}`);
    } catch (err) {
      replace(rstatus);
      throw err;
    }
  })}, 'Renew my name');
  scr.append(h('section', {class: 'card', 'aria-labelledby': 'renew-h'}, h('h2', {id: 'renew-h'}, 'Renew'),
    h('p', {}, 'A name lives a fixed number of blocks from its registration or last renewal. Renewing starts that time again.'), rstatus, rbox, renew));

  // Move to other hubs.
  const hubs = h('textarea', {rows: 3, required: true, value: (n.hubs || []).join('\n')});
  const empty = h('input', {type: 'checkbox', id: 'empty-old'});
  const progress = h('ul', {class: 'progress', 'aria-label': 'Copying progress'});
  const hbox = errorBox();
  const hstatus = h('p', {role: 'status'});
  const move = h('button', {type: 'submit'}, 'Move to these hubs');
  scr.append(h('form', {class: 'card', 'aria-labelledby': 'hubs-h', onsubmit: (e) => {
    e.preventDefault();
    replace(progress);
    busy(move, hbox, async () => {
      replace(hstatus, 'Copying what you keep on your hubs to the new ones…');
      const rows = {};
      try {
        const res = await api.stream('PUT', '/name/hubs', {hubs: lines(hubs.value), empty_old: empty.checked}, (p) => {
          if (p.stage !== 'copy') return;
          const text = [other(p.name || ''), `: ${p.done || 0} of ${p.total || 0} copied`];
          if (rows[p.name]) replace(rows[p.name], ...text);
          else progress.append(rows[p.name] = h('li', {}, ...text));
        });
        replace(hstatus, `Now on ${res.hubs.join(', ')}` + (res.height ? `: your record says so from block ${res.height}.` : '.'));
        replace(hubList, res.hubs.map((u) => h('div', {}, other(u))));
        for (const c of res.copies || []) progress.append(h('li', {}, other(c.hub), `: ${c.copied} copied, ${c.had} there already`, (c.lost || []).length ? `, ${c.lost.length} lost` : ''));
        for (const m of res.moved || []) progress.append(h('li', {}, `Requests moved from `, other(m.from), `: ${m.moved}`, m.error ? ' (' + m.error.message + ')' : ''));
        for (const d of res.emptied || []) progress.append(h('li', {}, 'Emptied ', other(d.hub), `: ${d.deleted} deleted`, d.error ? ' (' + d.error.message + ')' : ''));
      } catch (err) {
        replace(hstatus);
        throw err;
      }
    });
  }}, h('h2', {id: 'hubs-h'}, 'Move to other hubs'),
  h('p', {}, 'Everything you keep on your hubs is copied to the new ones, then your record on the chain names them; requests waiting on the old hubs follow.'),
  field('Hubs (one per line)', hubs),
  h('div', {class: 'check'}, empty, h('label', {for: empty.id}, 'Empty the hubs I leave')),
  progress, hstatus, hbox, move));

  // Revoke, for good: the name typed again.
  const confirm = h('input', {type: 'text', required: true, autocomplete: 'off', spellcheck: 'false'});
  const vphrase = h('textarea', {rows: 2, required: true, spellcheck: 'false', autocomplete: 'off'});
  const vbox = errorBox();
  const vstatus = h('p', {role: 'status'});
  const revoke = h('button', {type: 'submit', class: 'danger', disabled: true}, 'Revoke my name for good');
  confirm.addEventListener('input', () => { revoke.disabled = confirm.value !== me; });
  const revokeForm = h('form', {class: 'card danger-zone', 'aria-labelledby': 'revoke-h', onsubmit: (e) => {
    e.preventDefault();
    if (confirm.value !== me) return;
    busy(revoke, vbox, async () => {
      const res = await api.post('/name/revoke', {confirm: confirm.value, recovery_phrase: vphrase.value});
      vphrase.value = '';
      replace(revokeForm, h('h2', {id: 'revoke-h'}, 'Revoked'), h('p', {role: 'status'}, `Your name ${me} was revoked at block ${res.height}. Nobody can use it again; your contacts are told when they next write.`));
    });
  }}, h('h2', {id: 'revoke-h'}, 'Revoke your name'),
  h('p', {class: 'warn'}, 'This cannot be undone. Revoking ends ', h('strong', {}, me), ' for good: nobody, you included, can register it again; your contacts can no longer write to you and cannot confirm new keys for it.'),
  h('p', {}, 'Do this only if your keys were stolen or you leave Parley. If you lost a device, recover your name with your recovery phrase instead.'),
  field(`Type ${me} to confirm`, confirm, 'The button works once the name is typed exactly.'),
  field('Your recovery phrase', vphrase, 'No device keeps the key that owns your name: the phrase gives it, for this once. Nothing is sent if it is not the phrase of ' + me + '.'),
  vstatus, vbox, revoke);
  scr.append(revokeForm);
}

// ---------- devices: the name's devices, adding one by its link code,
// removing one

async function devicesScreen() {
  const scr = screen();
  document.title = 'Parley: devices';
  const box = errorBox();
  replace(main, h('h1', {}, 'Devices'), box);
  let d;
  try {
    d = await api.get('/devices');
  } catch (err) {
    return showError(box, err);
  }
  const shortKey = (k) => k.length > 24 ? k.slice(0, 24) + '…' : k;
  const list = h('ul', {class: 'devices'}, (d.devices || []).map((dev) => {
    const parts = [h('strong', {}, other(dev.label)), ' ', h('code', {}, shortKey(dev.signing_key)), ' ',
      dev.added_at ? `added at block ${dev.added_at}` : 'first device', dev.this ? ' (this device)' : ''];
    if (!dev.this) {
      const rbox = errorBox();
      const remove = h('button', {type: 'button', class: 'danger', 'aria-label': `Remove ${dev.label}`, onclick: () => {
        // Asked again in place: the device can no longer read or write as this name.
        const sure = h('button', {type: 'button', class: 'danger', onclick: () => busy(sure, rbox, async () => {
          const res = await api.post('/devices/remove', {label: dev.label});
          toast(`Removed ${res.label} at block ${res.height}`);
          devicesScreen();
        })}, `Remove ${dev.label} for good`);
        const keep = h('button', {type: 'button', class: 'secondary', onclick: () => devicesScreen()}, `Keep ${dev.label}`);
        remove.replaceWith(h('span', {class: 'confirm'}, h('span', {role: 'alert'}, `${dev.label} will no longer read or write as ${d.name}: your contacts stop encrypting to it at their next lookup. `), sure, ' ', keep));
        sure.focus();
      }}, 'Remove');
      parts.push(' ', remove, rbox);
    }
    return h('li', {}, parts);
  }));
  scr.append(h('section', {class: 'card', 'aria-labelledby': 'devices-h'}, h('h2', {id: 'devices-h'}, `The devices of ${d.name}`),
    h('p', {}, 'As the chain lists them (verified at block ', String(d.height), '). Each holds its own keys; your contacts see which device wrote.'), list));

  // Adding a device: the code its 'parley link' shows, the offer checked
  // on the chain and shown before anything is added.
  const code = h('input', {type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'ABCD-EFGH-JKMN-PQRS-T'});
  const abox = errorBox();
  const out = h('div', {});
  const look = h('button', {type: 'submit'}, 'Look up the code');
  scr.append(h('form', {class: 'card', 'aria-labelledby': 'add-device-h', onsubmit: (e) => {
    e.preventDefault();
    replace(out);
    busy(look, abox, async () => {
      const offer = await api.post('/devices/offer', {code: code.value.trim()});
      const history = h('input', {type: 'checkbox', id: 'device-history'});
      const obox = errorBox();
      const add = h('button', {type: 'button', onclick: () => busy(add, obox, async () => {
        const res = await api.post('/devices/add', {code: offer.code, history: history.checked});
        toast(`Added ${res.label} to ${res.name} at block ${res.height}: it opens your contacts and groups once it reads its welcome`);
        devicesScreen();
      })}, `Add ${offer.label} to ${d.name}`);
      replace(out, h('section', {class: 'card record', 'aria-label': 'The offer'},
        h('h3', {}, 'The device that offers itself'),
        h('dl', {},
          h('dt', {}, 'Label'), h('dd', {}, other(offer.label)),
          h('dt', {}, 'Signing key'), h('dd', {}, h('code', {}, offer.signing_key)),
          h('dt', {}, 'Offered at block'), h('dd', {}, String(offer.height)),
          offer.for ? [h('dt', {}, 'For'), h('dd', {}, other(offer.for))] : null),
        offer.taken_by ? h('p', {class: 'warn', role: 'alert'}, 'The name ', other(offer.taken_by), ' added this device already.') :
        offer.for && offer.for !== d.name ? h('p', {class: 'warn', role: 'alert'}, 'This device offers itself to ', other(offer.for), ' only: it is not yours to add.') : [
          h('p', {}, 'Add it only if it is your own device, showing this code now: it will read and write as ', h('strong', {}, d.name), '.'),
          h('div', {class: 'check'}, history, h('label', {for: history.id}, 'Give it my message history too')),
          obox, add]));
    });
  }}, h('h2', {id: 'add-device-h'}, 'Add a device'),
  h('p', {}, 'On the new device, run ', h('code', {}, 'parley link'), ', or choose “Link this device to a name I already have” in its web app: it shows a link code. Type it here.'),
  field('Link code', code), abox, look, out));
}

async function statusScreen() {
  const scr = screen();
  document.title = 'Parley: status';
  const box = errorBox();
  const refreshB = h('button', {type: 'button', class: 'secondary', onclick: () => statusScreen()}, 'Check again');
  replace(main, h('h1', {}, 'Status'), box);
  let s;
  try {
    s = await api.get('/status');
  } catch (err) {
    return showError(box, err);
  }
  const ch = s.chain;
  scr.append(
    h('section', {class: 'card'}, h('h2', {}, 'Chain'), h('dl', {},
      h('dt', {}, 'Chain'), h('dd', {}, ch.id || '?'),
      h('dt', {}, 'Node'), h('dd', {}, other(ch.node)),
      h('dt', {}, 'Witnesses'), h('dd', {}, String(ch.witnesses)),
      h('dt', {}, 'Verified height'), h('dd', {}, ch.height ? String(ch.height) : '—', ch.time ? [' at ', time(ch.time, true)] : null),
      ch.error ? [h('dt', {}, 'Problem'), h('dd', {class: 'warn'}, ch.error.message)] : null)),
    h('section', {class: 'card'}, h('h2', {}, 'Your name'), h('dl', {},
      h('dt', {}, 'Name'), h('dd', {}, s.name),
      s.name_state ? [h('dt', {}, 'Expiry'), h('dd', {}, s.name_state)] : null,
      h('dt', {}, 'Keys on the chain'), h('dd', {}, {ok: 'this device’s', not_mine: 'NOT this device’s', unchecked: 'not checked'}[s.keys] || s.keys))),
    h('section', {class: 'card'}, h('h2', {}, 'Hubs'), h('table', {},
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Hub'), h('th', {scope: 'col'}, 'Health'), h('th', {scope: 'col'}, 'Waiting to go out'))),
      h('tbody', {}, (s.hubs || []).map((hs) => h('tr', {}, h('td', {}, other(hs.url)),
        h('td', {class: hs.error ? 'warn' : ''}, hs.error ? hs.error.message : `answers (${Math.round(hs.latency_ms || 0)} ms)`),
        h('td', {}, String(hs.waiting || 0))))))),
    h('section', {class: 'card'}, h('h2', {}, 'This device'), h('dl', {},
      h('dt', {}, 'Contacts'), h('dd', {}, String(s.contacts)),
      h('dt', {}, 'Groups'), h('dd', {}, String(s.groups)),
      h('dt', {}, 'Blocked'), h('dd', {}, String(s.blocked)),
      h('dt', {}, 'Backup'), h('dd', {}, s.backup ? 'on' : 'off'),
      h('dt', {}, 'Read receipts'), h('dd', {}, s.read_receipts ? 'on' : 'off'),
      h('dt', {}, 'Agent'), h('dd', {}, `${state.info.mode}, pid ${state.info.pid}, version ${state.info.version}`))),
    refreshB);
}

boot();
