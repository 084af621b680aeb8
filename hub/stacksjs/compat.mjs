// Runs the real, unmodified Stacks.js storage client (@stacks/storage 7.x)
// against a hub: node compat.mjs HUB_URL. Exits non-zero on the first
// failed check. The hub must have list-files pages of at most 3 entries.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AppConfig, UserSession } from '@stacks/auth';
import { Storage, connectToGaiaHub, uploadToGaiaHub } from '@stacks/storage';
import { TokenSigner } from 'jsontokens';
import { getPublicKeyFromPrivate, publicKeyToBtcAddress } from '@stacks/encryption';

const hubUrl = process.argv[2];
if (!hubUrl) throw new Error('usage: node compat.mjs HUB_URL');

// A signed-in app session, as a wallet leaves it: app key and hub URL.
function storageFor(appPrivateKey) {
  // Outside a browser, UserSession keeps its session in memory
  // (InstanceDataStore) when given sessionOptions.
  const session = new UserSession({
    appConfig: new AppConfig(['store_write'], 'http://127.0.0.1'),
    sessionOptions: {},
  });
  session.store.getSessionData().userData = { appPrivateKey, hubUrl };
  session.store.setSessionData(session.store.getSessionData());
  return new Storage({ userSession: session });
}

const checks = [];
const check = (name, fn) => checks.push([name, fn]);

const key = randomBytes(32).toString('hex');
const storage = storageFor(key);
let readPrefix;

check('connect and put/get a plain file', async () => {
  const url = await storage.putFile('plain.txt', 'hello parley', { encrypt: false });
  assert.ok(url.startsWith(hubUrl + '/read/1'), `publicURL ${url}`);
  readPrefix = url.slice(0, -'plain.txt'.length);
  assert.equal(await storage.getFile('plain.txt', { decrypt: false }), 'hello parley');
  const res = await fetch(url);
  assert.match(res.headers.get('content-type'), /^text\/plain/); // as Stacks.js sent it
  assert.ok(res.headers.get('etag'));
});

check('put/get binary content', async () => {
  const bytes = new Uint8Array(70000).map((_, i) => (i * 31) & 255);
  await storage.putFile('blob.bin', bytes, { encrypt: false, contentType: 'application/octet-stream' });
  const got = new Uint8Array(await storage.getFile('blob.bin', { decrypt: false }));
  assert.deepEqual(got, bytes);
});

check('put/get an encrypted file (ciphertext on the hub)', async () => {
  await storage.putFile('secret.json', JSON.stringify({ msg: 'top secret' }));
  assert.deepEqual(JSON.parse(await storage.getFile('secret.json')), { msg: 'top secret' });
  const raw = await (await fetch(readPrefix + 'secret.json')).text();
  assert.ok(!raw.includes('top secret'), 'plaintext visible on the hub');
  assert.ok(JSON.parse(raw).cipherText, 'stored object is not an ECIES envelope');
});

check('signed and encrypted file', async () => {
  await storage.putFile('signed.txt', 'signed words', { encrypt: true, sign: true });
  assert.equal(await storage.getFile('signed.txt', { decrypt: true, verify: true }), 'signed words');
});

check('update in the same session (If-Match from the stored ETag)', async () => {
  await storage.putFile('plain.txt', 'hello again', { encrypt: false });
  assert.equal(await storage.getFile('plain.txt', { decrypt: false }), 'hello again');
});

check('list files across pages', async () => {
  for (let i = 0; i < 7; i++) await storage.putFile(`list/f${i}.txt`, `file ${i}`, { encrypt: false });
  const names = [];
  const count = await storage.listFiles((name) => { names.push(name); return true; });
  for (let i = 0; i < 7; i++) assert.ok(names.includes(`list/f${i}.txt`), `missing list/f${i}.txt in ${names}`);
  assert.equal(count, names.length);
  assert.equal(new Set(names).size, names.length, 'a name was listed twice');
});

check('ETag conflict: a fresh session overwriting without reading gets 412', async () => {
  const fresh = storageFor(key);
  await assert.rejects(fresh.putFile('plain.txt', 'conflict', { encrypt: false }),
    (e) => e.name === 'PreconditionFailedError' || e.hubError?.statusCode === 412 || /412|Precondition/.test(String(e)));
  assert.equal(await storage.getFile('plain.txt', { decrypt: false }), 'hello again');
  await fresh.getFile('plain.txt', { decrypt: false }); // learns the ETag
  await fresh.putFile('plain.txt', 'after reading', { encrypt: false });
  assert.equal(await fresh.getFile('plain.txt', { decrypt: false }), 'after reading');
});

check('delete, then the file is gone', async () => {
  await storage.deleteFile('list/f0.txt');
  await assert.rejects(storage.getFile('list/f0.txt', { decrypt: false }),
    (e) => e.name === 'DoesNotExist' || /DoesNotExist|404/.test(String(e)));
  await storage.putFile('list/f0.txt', 'recreated', { encrypt: false }); // delete dropped the session ETag
});

check('a foreign write is refused and stores nothing', async () => {
  const mallory = await connectToGaiaHub(hubUrl, randomBytes(32).toString('hex'));
  const victim = readPrefix.slice((hubUrl + '/read/').length, -1);
  await assert.rejects(uploadToGaiaHub('planted.txt', 'evil', { ...mallory, address: victim }),
    (e) => e.name === 'ValidationError' || /401|ValidationError/.test(String(e)));
  const res = await fetch(readPrefix + 'planted.txt');
  assert.equal(res.status, 404);
});

check('CORS: hub_info and reads answer browsers', async () => {
  const pre = await fetch(hubUrl + '/hub_info', {
    method: 'OPTIONS',
    headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'x-hiro-product' },
  });
  assert.ok(pre.status === 204 || pre.status === 200);
  assert.match(pre.headers.get('access-control-allow-headers').toLowerCase(), /x-hiro-product/);
  const read = await fetch(readPrefix + 'plain.txt', { headers: { Origin: 'https://app.example' } });
  assert.equal(read.headers.get('access-control-allow-origin'), '*');
  assert.match(read.headers.get('access-control-expose-headers'), /ETag/i);
});

// A session holding a token with Gaia's archival scopes, as a wallet may
// hand an app (Stacks.js makes its tokens without scopes, but uses the
// gaiaHubConfig a session carries, token included).
async function archivalStorage(appPrivateKey, scopes) {
  const info = await (await fetch(hubUrl + '/hub_info')).json();
  const iss = getPublicKeyFromPrivate(appPrivateKey);
  const payload = { gaiaChallenge: info.challenge_text, hubUrl, iss, salt: randomBytes(16).toString('hex'), scopes };
  const token = 'v1:' + new TokenSigner('ES256K', appPrivateKey).sign(payload);
  const session = new UserSession({ appConfig: new AppConfig(['store_write'], 'http://127.0.0.1'), sessionOptions: {} });
  const data = session.store.getSessionData();
  data.userData = { appPrivateKey, hubUrl, gaiaHubConfig: {
    url_prefix: info.read_url_prefix, max_file_upload_size_megabytes: info.max_file_upload_size_megabytes,
    address: publicKeyToBtcAddress(iss), token, server: hubUrl } };
  session.store.setSessionData(data);
  return new Storage({ userSession: session });
}

check('archival scopes: overwrites and deletes keep history, hidden from the scoped listing', async () => {
  const appKey = randomBytes(32).toString('hex');
  const archival = await archivalStorage(appKey, [{ scope: 'putFileArchivalPrefix', domain: 'journal/' }]);
  await archival.putFile('journal/day.txt', 'first', { encrypt: false });
  await archival.putFile('journal/day.txt', 'second', { encrypt: false }); // If-Match from the first write
  await archival.putFile('journal/day.txt', 'third', { encrypt: false });
  assert.equal(await archival.getFile('journal/day.txt', { decrypt: false }), 'third');
  for (let i = 0; i < 4; i++) await archival.putFile(`journal/n${i}.txt`, `n${i}`, { encrypt: false });
  await archival.deleteFile('journal/n0.txt');
  // (Storage.putFile would reconnect with an unscoped token after the 401.)
  const hubConfig = archival.userSession.store.getSessionData().userData.gaiaHubConfig;
  await assert.rejects(uploadToGaiaHub('elsewhere.txt', 'x', hubConfig),
    (e) => e.name === 'ValidationError' || /401|ValidationError/.test(String(e)));
  const scoped = [];
  await archival.listFiles((name) => { scoped.push(name); return true; });
  assert.deepEqual(scoped.sort(), ['journal/day.txt', 'journal/n1.txt', 'journal/n2.txt', 'journal/n3.txt']);
  const all = [];
  await storageFor(appKey).listFiles((name) => { all.push(name); return true; });
  const history = all.filter((n) => /^journal\/\.history\.\d{13}\.[0-9A-Za-z]{10}\./.test(n));
  assert.equal(history.length, 3, `history files in ${all}`);
  const kept = await Promise.all(history.map(async (n) => (await fetch(readPrefixOf(appKey) + n)).text()));
  assert.deepEqual(kept.sort(), ['first', 'n0', 'second']);
});

function readPrefixOf(appKey) {
  return hubUrl + '/read/' + publicKeyToBtcAddress(getPublicKeyFromPrivate(appKey)) + '/';
}

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e?.stack || e}`);
  }
}
console.log(`${checks.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
