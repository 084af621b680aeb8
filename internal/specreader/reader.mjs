// An independent reader of Parley's formats, written from docs/protocol.md
// alone (not from the Go code): it opens every vector of testdata/vectors
// and checks that each gives the outcome its "expect" line names.
//
//   node reader.mjs DIR [FILE...]   prints one line per vector, then "N passed, M failed"
//
// Each FILE is a recorded vector of a package ("key: value" lines), by its name:
// native-token.txt and inbox-stamp.txt (the hub's, checked as Tokens and Inbox
// say), safety.txt (Safety number), link.txt (Groups: group links) and backup.txt
// (Backup: its v3 and v2 backups and two refused ones), recovery.txt (Recovery
// phrase: owner keys of phrases), devicelink.txt (Device linking: an
// offer's code, its text and the welcome's path) and devicesession.txt
// (Device-pair sessions: an introduction path and a session's keys).
//
// Primitives come from the audited @noble libraries; every Parley layout,
// label and rule below is as the spec states it (section names in comments).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { x25519, ed25519 } from '@noble/curves/ed25519.js';
import { hkdf, extract, expand } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { argon2id } from '@noble/hashes/argon2.js';
import { sha3_256, shake256 } from '@noble/hashes/sha3.js';
import { xchacha20poly1305, chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { cbc } from '@noble/ciphers/aes.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';

// ---- Conventions: refusal classes --------------------------------------

class Refusal extends Error {
  constructor(cls, why) {
    super(`${cls}: ${why}`);
    this.cls = cls;
  }
}
const refuse = (cls, why) => { throw new Refusal(cls, why); };

// ---- Notation ----------------------------------------------------------

const te = new TextEncoder();
const ascii = (s) => te.encode(s);
const cat = (...parts) => {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const u16 = (n) => new Uint8Array([n >> 8, n & 0xff]);
const u32 = (n) => new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const u64 = (n) => { // n: BigInt or Number
  const b = new Uint8Array(8);
  let v = BigInt(n);
  for (let i = 7; i >= 0; i--) { b[i] = Number(v & 0xffn); v >>= 8n; }
  return b;
};
const readU16 = (b, o) => (b[o] << 8) | b[o + 1];
const readU32 = (b, o) => ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
const readU64 = (b, o) => { let v = 0n; for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(b[o + i]); return v; };
const str = (s) => { const b = typeof s === 'string' ? ascii(s) : s; return cat(u16(b.length), b); };
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => {
  if (!/^([0-9a-f]{2})*$/.test(s)) throw new Error(`not hex: ${s.slice(0, 20)}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
};
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const ctEqual = (a, b) => { if (a.length !== b.length) return false; let d = 0; for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i]; return d === 0; };
const allZero = (b) => b.every((x) => x === 0);
const HKDF = (ikm, salt, info, L) => hkdf(sha256, ikm, salt, typeof info === 'string' ? ascii(info) : info, L);
const HMAC = (k, m) => hmac(sha256, k, typeof m === 'string' ? ascii(m) : m);
const hex32 = (b) => hex(b.subarray(0, 16));
const X25519 = (priv, pub) => {
  const out = x25519.getSharedSecret(priv, pub);
  if (allZero(out)) refuse('malformed', 'an all-zero X25519 output');
  return out;
};
const aeadOpen = (key, nonce, ct, ad, cls = 'mac') => {
  try { return xchacha20poly1305(key, nonce, ad).decrypt(ct); } catch { refuse(cls, 'does not authenticate'); }
};

// ---- Identity: HPKE keys from seeds (RFC 9180, X-Wing as the spec restates it)

const KEM_X25519 = 0x0020, KEM_XWING = 0x647a, KDF_HKDF_SHA256 = 0x0001, AEAD_CHACHA = 0x0003;

function labeledExtract(suite, salt, label, ikm) {
  return extract(sha256, cat(ascii('HPKE-v1'), suite, ascii(label), ikm), salt);
}
function labeledExpand(suite, prk, label, info, L) {
  return expand(sha256, prk, cat(u16(L), ascii('HPKE-v1'), suite, ascii(label), info), L);
}

function x25519KeyFromSeed(ikm) { // DHKEM(X25519) DeriveKeyPair, RFC 9180 7.1.3
  const suite = cat(ascii('KEM'), u16(KEM_X25519));
  const prk = labeledExtract(suite, new Uint8Array(), 'dkp_prk', ikm);
  const sk = labeledExpand(suite, prk, 'sk', new Uint8Array(), 32);
  return { kem: KEM_X25519, sk, pk: x25519.getPublicKey(sk) };
}

function xwingKeyFromSeed(ikm) { // Identity: MLKEM768-X25519
  const seed = shake256(cat(ikm, ascii('HPKE-v1'), ascii('KEM'), u16(KEM_XWING), u16(13), ascii('DeriveKeyPair'), u16(32)), { dkLen: 32 });
  const x = shake256(seed, { dkLen: 96 });
  const pq = ml_kem768.keygen(x.subarray(0, 64));
  const skX = x.subarray(64, 96);
  const pkX = x25519.getPublicKey(skX);
  return { kem: KEM_XWING, pq, skX, pkX, pk: cat(pq.publicKey, pkX) };
}

const XWING_LABEL = new Uint8Array([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);

function decap(key, enc) {
  if (key.kem === KEM_X25519) { // DHKEM: ExtractAndExpand
    if (enc.length !== 32) refuse('mac', 'enc of another length');
    const suite = cat(ascii('KEM'), u16(KEM_X25519));
    const dh = X25519(key.sk, enc);
    const prk = labeledExtract(suite, new Uint8Array(), 'eae_prk', dh);
    return labeledExpand(suite, prk, 'shared_secret', cat(enc, key.pk), 32);
  }
  if (enc.length !== 1120) refuse('mac', 'enc of another length');
  const ctPQ = enc.subarray(0, 1088), ctX = enc.subarray(1088);
  const ssPQ = ml_kem768.decapsulate(ctPQ, key.pq.secretKey);
  return sha3_256(cat(ssPQ, X25519(key.skX, ctX), ctX, key.pkX, XWING_LABEL));
}

function hpkeOpenBase(key, enc, info, ct) {
  const ss = decap(key, enc);
  const suite = cat(ascii('HPKE'), u16(key.kem), u16(KDF_HKDF_SHA256), u16(AEAD_CHACHA));
  const empty = new Uint8Array();
  const pskIdHash = labeledExtract(suite, empty, 'psk_id_hash', empty);
  const infoHash = labeledExtract(suite, empty, 'info_hash', info);
  const ctx = cat(new Uint8Array([0]), pskIdHash, infoHash);
  const secret = labeledExtract(suite, ss, 'secret', empty);
  const k = labeledExpand(suite, secret, 'key', ctx, 32);
  const nonce = labeledExpand(suite, secret, 'base_nonce', ctx, 12); // sequence 0: XOR with 0
  try { return chacha20poly1305(k, nonce, empty).decrypt(ct); } catch { refuse('mac', 'HPKE does not open'); }
}

// ---- Names -------------------------------------------------------------

const validName = (n) => typeof n === 'string' && /^[a-z][a-z0-9-]{0,39}$/.test(n) && !n.endsWith('-') && !n.includes('--');

// ---- Handshake ---------------------------------------------------------

function openHandshake(env, me, keys, signingKeyOf) {
  if (env.length < 5) refuse('malformed', 'envelope under 5 bytes');
  if (env[0] !== 1) refuse('version', `envelope version ${env[0]}`);
  const kem = readU16(env, 1), n = readU16(env, 3);
  if (5 + n > env.length) refuse('malformed', 'enc past the envelope');
  const enc = env.subarray(5, 5 + n), ct = env.subarray(5 + n);
  const key = keys.find((k) => k.kem === kem);
  if (!key) refuse('malformed', `no key of KEM ${kem}`);
  const pt = hpkeOpenBase(key, enc, cat(ascii('parley/handshake/v1'), str(me)), ct);
  if (pt.length < 65) refuse('malformed', 'plaintext under 65 bytes');
  const v = pt[0];
  if (v !== 1 && v !== 2) refuse('version', `body version ${v}`);
  const body = pt.subarray(0, pt.length - 64), sig = pt.subarray(pt.length - 64);
  let o = 1;
  const takeStr = () => {
    if (o + 2 > body.length) refuse('malformed', 'short');
    const l = readU16(body, o);
    if (o + 2 + l > body.length) refuse('malformed', 'string past the body');
    const s = body.subarray(o + 2, o + 2 + l);
    o += 2 + l;
    return s;
  };
  const utf8 = (b) => { try { return new TextDecoder('utf-8', { fatal: true }).decode(b); } catch { refuse('malformed', 'not UTF-8'); } };
  const from = utf8(takeStr()), to = utf8(takeStr());
  if (o + 40 > body.length) refuse('malformed', 'short');
  const K = body.subarray(o, o + 32), time = readU64(body, o + 32);
  o += 40;
  let greeting = new Uint8Array();
  if (v === 2) {
    greeting = takeStr();
    if (greeting.length > 512) refuse('malformed', 'greeting over 512 bytes');
    utf8(greeting);
    const pad = body.subarray(o);
    if (pad.length !== 512 - greeting.length || !allZero(pad)) refuse('malformed', 'greeting padding');
  } else if (o !== body.length) {
    refuse('malformed', 'trailing bytes');
  }
  if (to !== me) refuse('signature', `meant for ${to}`);
  const ok = ed25519.verify(sig, cat(ascii('parley/handshake/v1'), body, key.pk), signingKeyOf(from), { zip215: false });
  if (!ok) refuse('signature', 'not signed by the sender');
  return { from, K, time, greeting };
}

// ---- Conversation keys and paths ---------------------------------------

function conversationKeys(K, me, them) {
  const [a, b] = [me, them].sort();
  const pair = `${a}|${b}`;
  const salt = ascii('parley/v1');
  return {
    header: HKDF(K, salt, `header|${pair}`, 32),
    send: HKDF(K, salt, `path|${pair}|from|${me}`, 32),
    recv: HKDF(K, salt, `path|${pair}|from|${them}`, 32),
  };
}
const messagePath = (pathKey, i) => 'm/' + hex32(HMAC(pathKey, u64(i)));
const indexPath = (pathKey) => 'i/' + hex32(HMAC(pathKey, 'parley/index/v1'));
const receiptPath = (pathKey) => 'r/' + hex32(HMAC(pathKey, 'parley/receipt/v1'));

// ---- Double Ratchet ----------------------------------------------------

const EK_LEN = 1184, CT_LEN = 1088, MAX_SKIP = 1000;
const F_PQ = 0x01, F_EK = 0x02, F_CT = 0x04;

function kdfRK(rk, dh, ss) {
  const out = ss ? HKDF(cat(dh, ss), rk, 'parley/ratchet/pq/v1', 64) : HKDF(dh, rk, 'WhisperRatchet', 64);
  return [out.subarray(0, 32), out.subarray(32, 64)];
}
const kdfCK = (ck) => [HMAC(ck, new Uint8Array([2])), HMAC(ck, new Uint8Array([1]))];
function messageKeys(seed) {
  const k = HKDF(seed, undefined, 'WhisperMessageKeys', 80);
  return { enc: k.subarray(0, 32), mac: k.subarray(32, 64), iv: k.subarray(64, 80) };
}
function ENC(seed, p, ad) {
  const k = messageKeys(seed);
  const pad = 16 - (p.length % 16);
  const c = cbc(k.enc, k.iv, { disablePadding: true }).encrypt(cat(p, new Uint8Array(pad).fill(pad)));
  return cat(c, HMAC(k.mac, cat(u64(ad.length), ad, c)));
}
function DEC(seed, b, ad) {
  const k = messageKeys(seed);
  if (b.length < 48 || (b.length - 32) % 16 !== 0) refuse('mac', 'body length');
  const c = b.subarray(0, b.length - 32);
  if (!ctEqual(b.subarray(b.length - 32), HMAC(k.mac, cat(u64(ad.length), ad, c)))) refuse('mac', 'ratchet MAC');
  const p = cbc(k.enc, k.iv, { disablePadding: true }).decrypt(c);
  const pad = p[p.length - 1];
  if (pad < 1 || pad > 16 || !p.subarray(p.length - pad).every((x) => x === pad)) refuse('mac', 'PKCS#7 padding');
  return p.subarray(0, p.length - pad);
}
// An EK passes FIPS 203's modulus check: every 12-bit coefficient below 3329.
function ekValid(ek) {
  for (let i = 0; i < 1152; i += 3) {
    const a = ek[i] | ((ek[i + 1] & 0x0f) << 8), b = (ek[i + 1] >> 4) | (ek[i + 2] << 4);
    if (a >= 3329 || b >= 3329) return false;
  }
  return true;
}

function marshalHeader(h) {
  return h.version === 1 ? cat(h.dh, u32(h.pn), u32(h.n)) : cat(new Uint8Array([2]), h.dh, u32(h.pn), u32(h.n), new Uint8Array([h.flags]));
}
function parseHeader(b) {
  let h;
  if (b.length === 40) h = { version: 1, dh: b.subarray(0, 32), pn: readU32(b, 32), n: readU32(b, 36), flags: 0 };
  else if (b.length === 42) {
    if (b[0] !== 2) refuse('version', `header version ${b[0]}`);
    h = { version: 2, dh: b.subarray(1, 33), pn: readU32(b, 33), n: readU32(b, 37), flags: b[41] };
  } else refuse('malformed', `header of ${b.length} bytes`);
  if (h.flags & ~(F_PQ | F_EK | F_CT)) refuse('malformed', 'unknown header flag');
  return h;
}

class Ratchet {
  // State, as the table of "Double Ratchet: State" names it.
  static alice(K, bobPublic) {
    return Object.assign(new Ratchet(), { DHr: bobPublic, RK: K, step: true });
  }
  static bob(K, bobPrivate) {
    return Object.assign(new Ratchet(), { DHs: { priv: bobPrivate, pub: x25519.getPublicKey(bobPrivate) }, RK: K });
  }
  constructor() {
    Object.assign(this, { DHs: null, DHr: null, RK: null, CKs: null, CKr: null, Ns: 0, Nr: 0, PN: 0, skipped: new Map(),
      step: false, DKs: null, EKr: null, SSr: null, SSs: null, PQ: false, V2: false });
  }
  clone() {
    const c = Object.assign(new Ratchet(), this);
    c.skipped = new Map(this.skipped);
    return c;
  }
  // Encrypt(payload, ad): draw(n) gives the next n random bytes.
  encrypt(payload, ad, draw) {
    if (!this.step && !this.CKs) throw new Error('no sending chain');
    let fields = new Uint8Array(), flags = 0;
    if (this.step) {
      const priv = draw(32);
      this.DHs = { priv, pub: x25519.getPublicKey(priv) };
      const dk = ml_kem768.keygen(draw(64));
      this.DKs = dk;
      fields = dk.publicKey; flags |= F_EK;
      if (this.EKr) {
        const { cipherText, sharedSecret } = ml_kem768.encapsulate(this.EKr, draw(32));
        this.SSs = sharedSecret; this.EKr = null;
        fields = cat(fields, cipherText); flags |= F_CT;
      } else this.SSs = null;
      const dh = X25519(this.DHs.priv, this.DHr);
      if (this.SSr) { [this.RK, this.CKs] = kdfRK(this.RK, dh, this.SSr); this.PQ = true; } else { [this.RK, this.CKs] = kdfRK(this.RK, dh); this.PQ = false; }
      this.SSr = null;
      this.step = false;
    }
    if (this.PQ) flags |= F_PQ;
    const h = { version: 2, dh: this.DHs.pub, pn: this.PN, n: this.Ns, flags };
    let seed;
    [this.CKs, seed] = kdfCK(this.CKs);
    this.Ns += 1;
    const hb = marshalHeader(h);
    return { header: hb, body: ENC(seed, cat(fields, payload), cat(ad, hb)) };
  }
  skipTo(t, until) {
    if (!t.CKr) return;
    if (until > t.Nr + MAX_SKIP) refuse('malformed', 'too many skipped messages');
    while (t.Nr < until) {
      let seed;
      [t.CKr, seed] = kdfCK(t.CKr);
      t.skipped.set(hex(t.DHr) + ':' + t.Nr, seed);
      t.Nr += 1;
    }
    while (t.skipped.size > MAX_SKIP) t.skipped.delete(t.skipped.keys().next().value);
  }
  static split(flags, p) {
    let o = 0, ek = null, ct = null;
    if (flags & F_EK) { if (p.length < o + EK_LEN) refuse('malformed', 'short for the KEM fields'); ek = p.subarray(o, o + EK_LEN); o += EK_LEN; }
    if (flags & F_CT) { if (p.length < o + CT_LEN) refuse('malformed', 'short for the KEM fields'); ct = p.subarray(o, o + CT_LEN); o += CT_LEN; }
    return { ek, ct, rest: p.subarray(o) };
  }
  // Decrypt(header, body, ad): on a copy, kept only if the message opens.
  decrypt(hb, body, ad) {
    const h = parseHeader(hb);
    const full = cat(ad, marshalHeader(h));
    const key = hex(h.dh) + ':' + h.n;
    if (this.skipped.has(key)) {
      const pt = DEC(this.skipped.get(key), body, full);
      const { rest } = Ratchet.split(h.flags, pt);
      this.skipped.delete(key);
      return rest;
    }
    if (h.version === 1 && this.V2) refuse('version', 'a version 1 header after version 2');
    const t = this.clone();
    const newChain = !t.DHr || !equal(t.DHr, h.dh);
    if (newChain) {
      this.skipTo(t, h.pn);
      if (!t.DHs) refuse('mac', 'a chain answering a message not sent');
      t.PN = t.Ns; t.Ns = 0; t.Nr = 0; t.DHr = h.dh;
      const dh = X25519(t.DHs.priv, t.DHr);
      if (h.flags & F_PQ) {
        if (!t.SSs) refuse('mac', 'a post-quantum step without a secret of ours');
        [t.RK, t.CKr] = kdfRK(t.RK, dh, t.SSs);
      } else [t.RK, t.CKr] = kdfRK(t.RK, dh);
      t.PQ = !!(h.flags & F_PQ);
      t.SSs = null; t.CKs = null; t.step = true;
    }
    if (!t.CKr) refuse('mac', 'no receiving chain');
    if (!newChain && h.n < t.Nr) refuse('replay', `message ${h.n}, read up to ${t.Nr}`);
    this.skipTo(t, h.n);
    let seed;
    [t.CKr, seed] = kdfCK(t.CKr);
    t.Nr += 1;
    const pt = DEC(seed, body, full);
    const { ek, ct, rest } = Ratchet.split(h.flags, pt);
    if (ek && !ekValid(ek)) refuse('malformed', 'an encapsulation key past the modulus');
    if (newChain) {
      t.EKr = ek;
      t.SSr = ct && t.DKs ? ml_kem768.decapsulate(ct, t.DKs.secretKey) : null;
      t.DKs = null;
    }
    if (h.version === 2) t.V2 = true;
    Object.assign(this, t);
    return { payload: rest, fields: (ek ? EK_LEN : 0) + (ct ? CT_LEN : 0) };
  }
}

// ---- Message blob ------------------------------------------------------

const BUCKETS = [1024, 4096, 16384, 65536, 262144];
const layout = (S, headerLen) => {
  const head = 1 + 24 + headerLen + 16;
  const cbcLen = Math.floor((S - head - 32) / 16) * 16;
  return { head, cbc: cbcLen, plain: cbcLen - 1 };
};

function sealBlob(r, headerKey, event, path, draw) {
  const fields = r.step ? (r.EKr ? EK_LEN + CT_LEN : EK_LEN) : 0;
  const S = BUCKETS.find((b) => fields + 4 + event.length <= layout(b, 42).plain);
  const { plain } = layout(S, 42);
  const payload = cat(u32(event.length), event, new Uint8Array(plain - fields - 4 - event.length));
  const { header, body } = r.encrypt(payload, ascii(path), draw);
  const nonce = draw(24);
  const sealed = xchacha20poly1305(headerKey, nonce, ascii(path)).encrypt(header);
  const out = cat(new Uint8Array([2]), nonce, sealed, body);
  return cat(out, new Uint8Array(S - out.length));
}

function openBlob(r, headerKey, blob, path) {
  if (!BUCKETS.includes(blob.length)) refuse('malformed', `blob of ${blob.length} bytes`);
  const v = blob[0];
  if (v !== 1 && v !== 2) refuse('version', `blob version ${v}`);
  const hl = v === 2 ? 42 : 40;
  const { head, cbc: cbcLen, plain } = layout(blob.length, hl);
  const hb = aeadOpen(headerKey, blob.subarray(1, 25), blob.subarray(25, head), ascii(path), 'header');
  parseHeader(hb);
  const end = head + cbcLen + 32;
  if (!allZero(blob.subarray(end))) refuse('malformed', 'fill is not zero');
  const { payload, fields } = r.decrypt(hb, blob.subarray(head, end), ascii(path));
  if (payload.length + fields !== plain) refuse('malformed', 'plaintext of another length');
  const n = readU32(payload, 0);
  if (n > payload.length - 4 || !allZero(payload.subarray(4 + n))) refuse('malformed', 'bad padding');
  const i = BUCKETS.indexOf(blob.length);
  if (i > 0 && fields + 4 + n <= layout(BUCKETS[i - 1], hl).plain) refuse('malformed', 'not the smallest bucket');
  return payload.subarray(4, 4 + n);
}

// ---- Small sealed objects: index, receipt, profile ---------------------

function openSmall(key, version, path, b) {
  if (b.length < 1 + 24 + 16) refuse('malformed', 'short');
  if (b[0] !== version) refuse('version', `version ${b[0]}`);
  return aeadOpen(key, b.subarray(1, 25), b.subarray(25), ascii(path));
}

function openIndex(headerKey, path, b) {
  const v = b.length > 0 && b[0] === 1 ? 1 : 3;
  const p = openSmall(headerKey, v, path, b);
  if (p.length < 12) refuse('malformed', 'short index');
  const count = readU64(p, 0), n = readU32(p, 8);
  let o = 12;
  if (p.length < o + 8 * n) refuse('malformed', 'index');
  const deleted = [];
  for (let i = 0; i < n; i++, o += 8) {
    const d = readU64(p, o);
    if (d >= count || (i > 0 && d <= deleted[i - 1])) refuse('malformed', 'deleted out of order or range');
    deleted.push(d);
  }
  const expiring = [];
  if (v === 1) {
    if (o !== p.length) refuse('malformed', 'trailing bytes');
  } else {
    if (p.length < o + 4) refuse('malformed', 'index');
    const m = readU32(p, o);
    o += 4;
    if (p.length !== o + 16 * m) refuse('malformed', 'index length');
    for (let i = 0; i < m; i++, o += 16) {
      const seq = readU64(p, o), at = readU64(p, o + 8);
      if (seq >= count || (i > 0 && seq <= expiring[i - 1][0]) || deleted.includes(seq) || at >= 1n << 62n) refuse('malformed', 'expiring out of order or range');
      expiring.push([seq, at]);
    }
  }
  return { count, deleted, expiring };
}

function openReceipt(headerKey, path, b) {
  const p = openSmall(headerKey, 2, path, b);
  if (p.length < 16 || p.length % 16 !== 0 || p.length > 16 * 33) refuse('malformed', 'receipt length');
  const delivered = readU64(p, 0), read = readU64(p, 8);
  if (read > delivered) refuse('malformed', 'read beyond delivered');
  const skipped = [];
  let last = 0n;
  for (let o = 16; o < p.length; o += 16) {
    const from = readU64(p, o), to = readU64(p, o + 8);
    if (from < last || from >= to || to > delivered) refuse('malformed', 'skipped runs');
    skipped.push([from, to]);
    last = to;
  }
  return { delivered, read, skipped };
}

function openProfile(P, b) {
  const path = 'pr/' + hex32(HMAC(P, 'parley/profile/v1'));
  const p = openSmall(P, 1, path, b);
  if (p.length === 0 || p.length % 4096 !== 0) refuse('malformed', 'profile size');
  const n = readU32(p, 0);
  if (n > p.length - 4 || !allZero(p.subarray(4 + n))) refuse('malformed', 'profile padding');
  const js = p.subarray(4, 4 + n);
  const o = parseStrictJSON(js);
  for (const [k, max] of [['name', 64], ['status', 256]]) {
    if (k in o && (typeof o[k] !== 'string' || te.encode(o[k]).length > max)) refuse('malformed', `profile ${k}`);
  }
  return js;
}

// ---- Files -------------------------------------------------------------

const CHUNK_BUCKETS = [1024, 4096, 16384, 65536, 262144, 1048621];
function openChunk(F, i, count, b) {
  if (!CHUNK_BUCKETS.includes(b.length)) refuse('malformed', `chunk of ${b.length} bytes`);
  if (b[0] !== 2) refuse('version', `chunk version ${b[0]}`);
  const k = HKDF(F, undefined, cat(ascii('parley/chunk-key/v2'), u64(i)), 64);
  const nonce = b.subarray(1, 25);
  const padded = aeadOpen(k.subarray(0, 32), nonce, b.subarray(25), cat(ascii('parley/chunk/v2'), u64(i), u64(count)));
  const n = readU32(padded, 0);
  if (n > padded.length - 4 || n > 1 << 20 || !allZero(padded.subarray(4 + n))) refuse('malformed', 'chunk padding');
  const j = CHUNK_BUCKETS.indexOf(b.length);
  if (j > 0 && 41 + 4 + n <= CHUNK_BUCKETS[j - 1]) refuse('malformed', 'not the smallest size');
  if (!ctEqual(nonce, HMAC(k.subarray(32), cat(u64(count), padded)).subarray(0, 24))) refuse('malformed', "a nonce not its content's");
  return padded.subarray(4, 4 + n);
}

// ---- Groups ------------------------------------------------------------

const groupDerive = (S, info) => HKDF(S, ascii('parley/group/v1'), info, 32);
const groupPath = (S, i) => 'g/' + hex32(HMAC(groupDerive(S, 'path'), u64(i)));
function groupMessageKey(S, from, i) {
  let ck = groupDerive(S, 'chain'), mk;
  for (let j = from; j <= i; j++) [ck, mk] = [HMAC(ck, new Uint8Array([2])), HMAC(ck, new Uint8Array([1]))];
  return mk;
}
function openGroup(mk, signKey, id, epoch, i, path, b) {
  if (!BUCKETS.includes(b.length)) refuse('malformed', `group blob of ${b.length} bytes`);
  if (b[0] !== 1) refuse('version', `group blob version ${b[0]}`);
  const ad = cat(ascii('parley/group/v1'), str(id), u64(epoch), u64(i), str(path));
  const body = b.subarray(1, b.length - 64), sig = b.subarray(b.length - 64);
  if (!ed25519.verify(sig, cat(ad, body), signKey, { zip215: false })) refuse('signature', 'not signed by its author');
  const plain = aeadOpen(mk, body.subarray(0, 24), body.subarray(24), ad);
  const n = readU32(plain, 0);
  if (n > plain.length - 4 || !allZero(plain.subarray(4 + n))) refuse('malformed', 'bad padding');
  const k = BUCKETS.indexOf(b.length);
  if (k > 0 && 1 + 24 + 16 + 64 + 4 + n <= BUCKETS[k - 1]) refuse('malformed', 'not the smallest bucket');
  return plain.subarray(4, 4 + n);
}

// ---- Events: I-JSON, strictly ------------------------------------------

// parseStrictJSON parses UTF-8 JSON by the rules of "Events": one value,
// no member twice, integers of magnitude below 2^53 only.
function parseStrictJSON(bytes) {
  let s;
  try { s = new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch { refuse('malformed', 'not UTF-8'); }
  let i = 0;
  const ws = () => { while (i < s.length && ' \t\n\r'.includes(s[i])) i++; };
  const bad = (why) => refuse('malformed', `JSON: ${why} at ${i}`);
  const value = (depth) => {
    if (depth > 16) bad('too deep');
    ws();
    const c = s[i];
    if (c === '{') {
      i++; const o = {}; const seen = new Set();
      ws();
      if (s[i] === '}') { i++; return o; }
      for (;;) {
        ws();
        if (s[i] !== '"') bad('member name');
        const k = string();
        if (seen.has(k)) bad(`member ${k} twice`);
        seen.add(k);
        ws();
        if (s[i++] !== ':') bad('colon');
        Object.defineProperty(o, k, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        ws();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === '}') { i++; return o; }
        bad('object');
      }
    }
    if (c === '[') {
      i++; const a = [];
      ws();
      if (s[i] === ']') { i++; return a; }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === ']') { i++; return a; }
        bad('array');
      }
    }
    if (c === '"') return string();
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]]) {
      if (s.startsWith(lit, i)) { i += lit.length; return v; }
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(s.slice(i));
    if (!m) bad('value');
    if (m[2] || m[3]) bad('a number that is not an integer');
    i += m[0].length;
    const n = Number(m[0]);
    if (!Number.isSafeInteger(n)) bad('an integer beyond 2^53 - 1');
    return n;
  };
  const string = () => {
    const start = i;
    i++;
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\') i++;
      else if (s.charCodeAt(i) < 0x20) bad('control character in a string');
      i++;
    }
    if (i >= s.length) bad('unterminated string');
    i++;
    const out = JSON.parse(s.slice(start, i));
    if (!out.isWellFormed()) bad('an unpaired surrogate escape');
    return out;
  };
  const v = value(0);
  ws();
  if (i !== s.length) bad('more after the value');
  return v;
}

const isInt = (x) => Number.isSafeInteger(x);
const isStr = (x) => typeof x === 'string';
function b64bytes(x, n) {
  if (!isStr(x) || !/^[A-Za-z0-9+/]*={0,2}$/.test(x) || x.length % 4 !== 0) refuse('malformed', 'not base64');
  const b = Buffer.from(x, 'base64');
  if (b.toString('base64') !== x || (n !== undefined && b.length !== n)) refuse('malformed', `base64 of ${b.length} bytes`);
  return b;
}
const optional = (o, k, check) => { if (k in o && o[k] !== null) check(o[k]); };

const KINDS = ['text', 'react', 'edit', 'delete', 'timer', 'profile', 'receipts', 'group'];

function parseEvent(bytes) {
  const e = parseStrictJSON(bytes);
  if (typeof e !== 'object' || e === null || Array.isArray(e)) refuse('malformed', 'not an object');
  if (!isInt(e.v) || !isStr(e.k) || !isInt(e.t)) refuse('malformed', 'v, k or t');
  if (e.v !== 1) refuse('unsupported', `event version ${e.v}`);
  if (!KINDS.includes(e.k)) refuse('unsupported', `kind ${e.k}`);
  optional(e, 'text', (x) => { if (!isStr(x)) refuse('malformed', 'text'); });
  optional(e, 'ref', (r) => {
    if (typeof r !== 'object' || !validName(r.by) || !isInt(r.seq) || r.seq < 0) refuse('malformed', 'reference');
  });
  if (['react', 'edit', 'delete'].includes(e.k) && !e.ref) refuse('malformed', `${e.k} without a reference`);
  if (e.k === 'react' && (!isStr(e.emoji ?? '') || te.encode(e.emoji ?? '').length > 32)) refuse('malformed', 'emoji');
  if (e.k === 'timer' && 'ttl' in e && (!isInt(e.ttl) || e.ttl < 0)) refuse('malformed', 'ttl');
  if (e.k === 'profile' || e.k === 'receipts') b64bytes(e.key, 32);
  if (e.k === 'text') optional(e, 'file', (f) => {
    const name = f.name;
    if (!isStr(name) || name === '' || te.encode(name).length > 255 || name[0] === '.' || /[\/\\\u0000-\u001f\u007f]/.test(name)) refuse('malformed', 'file name');
    if (!isInt(f.size) || f.size < 0) refuse('malformed', 'file size');
    b64bytes(f.sha256, 32); b64bytes(f.key, 32);
    if (f.chunks !== Math.max(1, Math.ceil(f.size / (1 << 20)))) refuse('malformed', 'file chunks');
  });
  if (e.k === 'group') {
    const g = e.group;
    if (typeof g !== 'object' || g === null) refuse('malformed', 'group');
    if (!isStr(g.id) || !/^[0-9a-f]{32}$/.test(g.id)) refuse('malformed', 'group id');
    if (te.encode(g.name ?? '').length > 64 || !validName(g.creator)) refuse('malformed', 'group name or creator');
    if (!Array.isArray(g.members) || g.members.length < 1 || g.members.length > 256 || !g.members.every(validName)) refuse('malformed', 'members');
    optional(g, 'seed', (x) => b64bytes(x, 32));
    optional(g, 'sign', (x) => { b64bytes(x, 32); if (!g.seed) refuse('malformed', 'sign without seed'); });
    optional(g, 'final', (f) => { if (Object.keys(f).length > 256 || !Object.keys(f).every(validName)) refuse('malformed', 'final'); });
  }
  return e;
}


// ---- Storage hub: native tokens and inbox stamps (Tokens, Inbox) --------

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
function base58check(b) {
  const full = cat(b, sha256(sha256(b)).subarray(0, 4));
  let x = BigInt('0x' + (hex(full) || '0')), out = '';
  while (x > 0n) { out = B58[Number(x % 58n)] + out; x /= 58n; }
  for (const c of full) { if (c !== 0) break; out = '1' + out; }
  return out;
}
const nativeAddress = (pub) => base58check(cat(new Uint8Array([0x38]), ripemd160(sha256(pub))));
function canonicalHubURL(u) {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#@]+)(\/[^?#]*)?$/.exec(u);
  if (!m || !['http', 'https'].includes(m[1].toLowerCase())) refuse('malformed', `hub URL ${u}`);
  return `${m[1].toLowerCase()}://${m[2].toLowerCase()}${(m[3] || '').replace(/\/+$/, '')}`;
}
const b64url = (b) => Buffer.from(b).toString('base64url');

function keyValues(text) {
  const kv = {};
  for (const l of text.split('\n')) {
    if (l === '' || l.startsWith('#')) continue;
    const i = l.indexOf(': ');
    kv[i < 0 ? l.replace(/:$/, '') : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 2);
  }
  return kv;
}

// The recorded native token: made again from its seed and claims, it is the
// recorded token byte for byte; its claims are those Tokens lists.
function checkToken(text) {
  const v = keyValues(text);
  const seed = unhex(v.seed), pub = ed25519.getPublicKey(seed);
  const payload = ascii(v.payload);
  const c = parseStrictJSON(payload);
  const names = Object.keys(c).sort().join(',');
  if (names !== 'adr,exp,hub,iat,iss,salt,scopes') refuse('malformed', `claims ${names}`);
  same(c.iss, hex(pub));
  same(c.adr, nativeAddress(pub));
  same(v.address, nativeAddress(pub));
  same(c.hub, canonicalHubURL(v['hub-url']));
  if (!(c.exp > Number(v.now) && c.exp - Number(v.now) <= 366 * 86400 && c.iat <= Number(v.now) + 300)) refuse('malformed', 'times');
  const sig = ed25519.sign(cat(ascii('parley/hub/token/v2\n'), payload), seed);
  same(`parley2:${b64url(payload)}.${b64url(sig)}`, v.token);
}

// The recorded inbox stamp: its digest as Inbox computes it, with at least
// the difficulty's leading zero bits; "weak" has fewer; every bad-* header
// breaks the grammar.
function parseStamp(h) {
  const m = /^v3\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/.exec(h);
  if (!m || BigInt(m[1]) >= 1n << 63n || BigInt(m[2]) >= 1n << 64n) refuse('malformed', `stamp ${h}`);
  return { time: BigInt(m[1]), nonce: BigInt(m[2]) };
}
const zeroBits = (d) => { let n = 0; for (const c of d) { if (c === 0) { n += 8; continue; } n += Math.clz32(c) - 24; break; } return n; };
function checkStamp(text) {
  const v = keyValues(text);
  const digest = (h) => {
    const s = parseStamp(h);
    return sha256(cat(ascii('parley/hub/inbox-stamp/v3'), str(v.hub), str(v.address), u64(s.time), sha256(ascii(v.body)), u64(s.nonce)));
  };
  const d = digest(v.header);
  same(hex(d), v.digest);
  if (zeroBits(d) < Number(v.difficulty)) refuse('malformed', 'the stamp is weak');
  if (zeroBits(digest(v.weak)) >= Number(v.difficulty)) refuse('malformed', 'the weak stamp is not weak');
  const bad = Object.keys(v).filter((k) => k.startsWith('bad-'));
  if (bad.length === 0) refuse('malformed', 'no bad-* headers');
  for (const k of bad) {
    let parsed = true;
    try { parseStamp(v[k]); } catch (e) { if (!(e instanceof Refusal)) throw e; parsed = false; }
    if (parsed) refuse('malformed', `${k} (${v[k]}) parses`);
  }
}


// ---- Recorded vectors of the packages: safety number, group link --------

// safety.txt: both people's names and keys give the recorded number;
// the two numbers that are not it differ from it.
function safetyHalf(name, signing, encKeys) {
  let keys = signing;
  for (const [kem, k] of encKeys) keys = cat(keys, u16(kem), u16(k.length), k);
  let h = sha512(cat(ascii('parley/safety/v2'), str(name), keys));
  for (let i = 0; i < 5200; i++) h = sha512(cat(h, keys));
  let out = '';
  for (let i = 0; i < 6; i++) {
    let v = 0n;
    for (const x of h.subarray(i * 5, i * 5 + 5)) v = (v << 8n) | BigInt(x);
    out += String(v % 100000n).padStart(5, '0');
  }
  return out;
}
function checkSafety(text) {
  const v = keyValues(text);
  const half = (s) => safetyHalf(Buffer.from(unhex(v['name-' + s])).toString(), unhex(v['signing-' + s]),
    [[KEM_X25519, unhex(v['x25519-' + s])], [KEM_XWING, unhex(v['hybrid-' + s])]]);
  const [x, y] = [half('a'), half('b')].sort();
  const number = (x + y).match(/.{5}/g).join(' ');
  same(hex(ascii(number)), v.number);
  if (hex(ascii(number)) === v['not-swapped'] || hex(ascii(number)) === v['not-v1']) refuse('malformed', 'a number that is not it matches');
}

// link.txt: a group link's introduction path, key and first message path.
function checkLink(text) {
  const v = keyValues(text);
  const pair = unhex(v['pair-secret']), K = unhex(v['mutual-key']);
  const introPath = 'p/' + hex(HKDF(pair, ascii('parley/v1'), 'parley/link-path/v1|alice|bob|from|alice', 16));
  same(hex(ascii(introPath)), v['intro-path-alice-to-bob']);
  const L = HKDF(K, ascii('parley/v1'), 'parley/link/v1', 32);
  same(hex(L), v['link-key']);
  same(hex(ascii(messagePath(conversationKeys(L, 'alice', 'bob').send, 0n))), v['message-0-path-alice-to-bob']);
}


// backup.txt: the v2 backup opens from name and passphrase (at the
// recorded Argon2id cost) to the identity whose signing key is recorded,
// and to the recorded state; a cut one and an unknown version do not.
function openBackupV2(name, passphrase, cost, blob) {
  const magic = ascii('parley/backup/v2\n');
  if (blob.length < magic.length || !equal(blob.subarray(0, magic.length), magic)) refuse('version', 'not a v2 backup');
  if (blob.length < magic.length + 24 + 176 + 24 + 16) refuse('malformed', 'short backup');
  const M = argon2id(passphrase, cat(ascii('parley/backup/v2|'), ascii(name)), { t: cost.t, m: cost.m, p: cost.p, dkLen: 32 });
  const path = 'b/' + hex(HKDF(M, undefined, 'parley/backup-path/v2', 16));
  const key = HKDF(M, undefined, 'parley/backup-key/v2', 32);
  const ad = cat(magic, ascii(path));
  let o = magic.length;
  const seeds = aeadOpen(key, blob.subarray(o, o + 24), blob.subarray(o + 24, o + 24 + 176), ad);
  o += 200;
  const state = aeadOpen(HKDF(seeds, ascii('parley/local/v1'), 'backup', 32), blob.subarray(o, o + 24), blob.subarray(o + 24), ad);
  if (state.length % 65536 !== 0) refuse('malformed', 'state not padded to 64 KiB');
  const n = readU32(state, 0);
  if (n > state.length - 4 || !allZero(state.subarray(4 + n))) refuse('malformed', 'state padding');
  return { path, signing: ed25519.getPublicKey(seeds.subarray(32, 64)), state: state.subarray(4, 4 + n) };
}
// The v3 backup (Identity: secrets v2; Backup): the same path and key
// as v2, its own magic, the 225-byte secrets v2 sealed; the state under
// HKDF-Expand(local root, "backup"). The recorded one was written
// without the owner seed: flagged dropped, 32 zero bytes.
function openBackupV3(name, passphrase, cost, blob) {
  const magic = ascii('parley/backup/v3\n');
  if (blob.length < magic.length || !equal(blob.subarray(0, magic.length), magic)) refuse('version', 'not a v3 backup');
  if (blob.length < magic.length + 24 + 241 + 24 + 16) refuse('malformed', 'short backup');
  const M = argon2id(passphrase, cat(ascii('parley/backup/v2|'), ascii(name)), { t: cost.t, m: cost.m, p: cost.p, dkLen: 32 });
  const path = 'b/' + hex(HKDF(M, undefined, 'parley/backup-path/v2', 16));
  const key = HKDF(M, undefined, 'parley/backup-key/v2', 32);
  const ad = cat(magic, ascii(path));
  let o = magic.length;
  const sec = aeadOpen(key, blob.subarray(o, o + 24), blob.subarray(o + 24, o + 24 + 241), ad);
  o += 265;
  const flags = sec[0], ownerSeed = sec.subarray(1, 33), ownerPub = sec.subarray(33, 65);
  if ((flags & ~1) !== 0) refuse('malformed', 'unknown flag');
  if ((flags & 1) ? !allZero(ownerSeed) : !equal(ed25519.getPublicKey(ownerSeed), ownerPub)) refuse('malformed', 'owner seed');
  const localRoot = sec.subarray(193, 225);
  const state = aeadOpen(expand(sha256, localRoot, ascii('backup'), 32), blob.subarray(o, o + 24), blob.subarray(o + 24), ad);
  if (state.length % 65536 !== 0) refuse('malformed', 'state not padded to 64 KiB');
  const n = readU32(state, 0);
  if (n > state.length - 4 || !allZero(state.subarray(4 + n))) refuse('malformed', 'state padding');
  return { path, signing: ed25519.getPublicKey(sec.subarray(65, 97)), dropped: (flags & 1) === 1, state: state.subarray(4, 4 + n) };
}
function checkBackup(text) {
  const v = keyValues(text);
  const a = unhex(v.argon2id);
  const cost = { t: readU32(a, 0), m: readU32(a, 4), p: a[8] };
  const name = Buffer.from(unhex(v.name)).toString(), pass = unhex(v.passphrase);
  const b = openBackupV2(name, pass, cost, unhex(v.blob));
  same(hex(ascii(b.path)), v.path);
  same(hex(b.signing), v['signing-key']);
  same(hex(b.state), v.state);
  const b3 = openBackupV3(name, pass, cost, unhex(v['blob-v3']));
  same(hex(ascii(b3.path)), v.path);
  same(hex(b3.signing), v['signing-key']);
  same(hex(b3.state), v.state);
  if (!b3.dropped) refuse('expectation', 'the v3 backup holds its owner seed');
  for (const [k, cls] of [['bad-truncated', 'malformed'], ['bad-version', 'version']]) {
    let got = 'success';
    try { openBackupV2(name, pass, cost, unhex(v[k])); } catch (e) { if (!(e instanceof Refusal)) throw e; got = e.cls; }
    if (got !== cls) refuse('expectation', `${k}: ${got}, want ${cls}`);
  }
}

// ---- The test kit ------------------------------------------------------

const FORMATS = {
  handshake: ['to', 'to-x25519-seed', 'to-pq-seed', 'from-signing-key', 'from', 'mutual-key', 'time', 'greeting'],
  message: ['alice', 'bob', 'mutual-key', 'bob-x25519-private', 'message', 'open-by', 'n', 'event'],
  index: ['mutual-key', 'sender', 'reader', 'count', 'deleted', 'expiring'],
  receipt: ['mutual-key', 'sender', 'reader', 'delivered', 'read', 'skipped'],
  group: ['group', 'epoch', 'from', 'i', 'sender-key', 'sign-key', 'event'],
  chunk: ['file-key', 'i', 'count', 'content'],
  profile: ['profile-key', 'profile'],
  event: ['kind'],
};
const EXPECTS = ['success', 'malformed', 'version', 'header', 'mac', 'signature', 'replay', 'unsupported'];

function parseVector(text) {
  if (!text.endsWith('\n')) throw new Error('no final newline');
  const cut = text.indexOf('\n\n');
  if (cut < 0) throw new Error('no blank line');
  const fields = [];
  for (const line of text.slice(0, cut).split('\n')) {
    const m = /^([a-z0-9-]+): (.*)$/.exec(line);
    if (!m) throw new Error(`header line ${line}`);
    fields.push([m[1], m[2]]);
  }
  const get = (k) => (fields.find((f) => f[0] === k) || [])[1];
  const all = (k) => fields.filter((f) => f[0] === k).map((f) => f[1]);
  const format = get('format');
  if (!(format in FORMATS)) throw new Error(`format ${format}`);
  if (!EXPECTS.includes(get('expect'))) throw new Error(`expect ${get('expect')}`);
  for (const [k] of fields) {
    const repeats = k === 'comment' || (k === 'message' && format === 'message');
    if (!repeats && !['format', 'expect'].includes(k) && !FORMATS[format].includes(k)) throw new Error(`field ${k} in a ${format} vector`);
    if (!repeats && all(k).length > 1) throw new Error(`field ${k} twice`);
  }
  const lines = text.slice(cut + 2, -1).split('\n');
  if (lines.some((l) => l.length > 128)) throw new Error('payload line over 128 digits');
  return { format, expect: get('expect'), get, all, payload: unhex(lines.join('')) };
}

const same = (got, want) => {
  if (got !== (want ?? '')) refuse('expectation', `got ${got}, the vector says ${want}`);
};

function runHandshake(v) {
  const keys = [x25519KeyFromSeed(unhex(v.get('to-x25519-seed'))), xwingKeyFromSeed(unhex(v.get('to-pq-seed')))];
  const signing = unhex(v.get('from-signing-key'));
  const r = openHandshake(v.payload, v.get('to'), keys, () => signing);
  same(r.from, v.get('from'));
  same(hex(r.K), v.get('mutual-key'));
  same(String(r.time), v.get('time'));
  same(hex(r.greeting), v.get('greeting'));
}

function runMessage(v) {
  const K = unhex(v.get('mutual-key'));
  const bobPriv = unhex(v.get('bob-x25519-private'));
  const alice = v.get('alice'), bob = v.get('bob');
  const sides = {
    [alice]: { r: Ratchet.alice(K, x25519.getPublicKey(bobPriv)), keys: conversationKeys(K, alice, bob), other: bob },
    [bob]: { r: Ratchet.bob(K, bobPriv), keys: conversationKeys(K, bob, alice), other: alice },
  };
  for (const line of v.all('message')) {
    const m = Object.fromEntries(line.split(' ').map((f) => f.split('=')));
    const from = sides[m.from], to = sides[from.other];
    const random = unhex(m.random);
    let o = 0;
    const draw = (n) => { if (o + n > random.length) throw new Error('random inputs run out'); const b = random.subarray(o, o + n); o += n; return b; };
    const path = messagePath(from.keys.send, BigInt(m.n));
    const blob = sealBlob(from.r, from.keys.header, unhex(m.event), path, draw);
    if (o !== random.length) throw new Error('random inputs left over');
    if (hex(blob) !== m.blob) throw new Error(`message ${m.from}/${m.n}: sealed again, another blob`);
    same(hex(openBlob(to.r, to.keys.header, blob, path)), m.event);
  }
  const reader = sides[v.get('open-by')];
  const path = messagePath(reader.keys.recv, BigInt(v.get('n')));
  const ev = openBlob(reader.r, reader.keys.header, v.payload, path);
  parseEvent(ev);
  same(hex(ev), v.get('event'));
}

function runIndex(v) {
  const keys = conversationKeys(unhex(v.get('mutual-key')), v.get('sender'), v.get('reader'));
  const x = openIndex(keys.header, indexPath(keys.send), v.payload);
  same(String(x.count), v.get('count'));
  same(x.deleted.join(','), v.get('deleted'));
  same(x.expiring.map(([s, a]) => `${s}@${a}`).join(','), v.get('expiring'));
}

function runReceipt(v) {
  const keys = conversationKeys(unhex(v.get('mutual-key')), v.get('sender'), v.get('reader'));
  const r = openReceipt(keys.header, receiptPath(keys.send), v.payload);
  same(String(r.delivered), v.get('delivered'));
  same(String(r.read), v.get('read'));
  same(r.skipped.map(([a, b]) => `${a}-${b}`).join(','), v.get('skipped'));
}

function runGroup(v) {
  const S = unhex(v.get('sender-key'));
  const from = Number(v.get('from')), i = Number(v.get('i'));
  const ev = openGroup(groupMessageKey(S, from, i), unhex(v.get('sign-key')), v.get('group'), BigInt(v.get('epoch')), BigInt(i), groupPath(S, BigInt(i)), v.payload);
  parseEvent(ev);
  same(hex(ev), v.get('event'));
}

function run(v) {
  switch (v.format) {
    case 'handshake': return runHandshake(v);
    case 'message': return runMessage(v);
    case 'index': return runIndex(v);
    case 'receipt': return runReceipt(v);
    case 'group': return runGroup(v);
    case 'chunk': return same(hex(openChunk(unhex(v.get('file-key')), BigInt(v.get('i')), BigInt(v.get('count')), v.payload)), v.get('content'));
    case 'profile': return same(hex(openProfile(unhex(v.get('profile-key')), v.payload)), v.get('profile'));
    case 'event': return same(parseEvent(v.payload).k, v.get('kind'));
  }
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node reader.mjs DIR');
  process.exit(2);
}
const names = readdirSync(dir).filter((n) => n.endsWith('.txt')).sort();
let passed = 0, failed = 0;
const seen = {};
for (const name of names) {
  let outcome, v;
  try {
    v = parseVector(readFileSync(join(dir, name), 'utf8'));
    run(v);
    outcome = 'success';
  } catch (e) {
    if (!(e instanceof Refusal)) {
      console.log(`FAIL ${name}: ${e.stack || e}`);
      failed++;
      continue;
    }
    outcome = e.cls;
    if (outcome !== v.expect) console.log(`     ${name}: ${e.message}`);
  }
  seen[v.format] = (seen[v.format] || 0) + 1;
  if (outcome === v.expect) {
    console.log(`ok   ${name}: ${outcome}`);
    passed++;
  } else {
    console.log(`FAIL ${name}: got ${outcome}, want ${v.expect}`);
    failed++;
  }
}
// ---- Recovery phrase ----------------------------------------------------
// recovery.txt: blocks of phrase, BIP-39 seed (empty passphrase), owner
// seed and owner key, each derived as "Recovery phrase" says.
function checkRecovery(text) {
  const blocks = text.split(/\n\n+/).map(keyValues).filter((v) => Object.keys(v).length > 0);
  if (blocks.length === 0) refuse('malformed', 'no vector');
  for (const v of blocks) {
    if (!/^[a-z]+( [a-z]+){11}$/.test(v.phrase)) refuse('malformed', `not a canonical 12-word phrase: ${v.phrase}`);
    const seed = pbkdf2(sha512, ascii(v.phrase), ascii('mnemonic'), { c: 2048, dkLen: 64 });
    same(hex(seed), v.seed);
    const owner = HKDF(seed, ascii('parley/recovery/v1'), 'owner', 32);
    same(hex(owner), v['owner-seed']);
    same('ed25519:' + hex(ed25519.getPublicKey(owner)), v.owner);
  }
}

// ---- Device linking -------------------------------------------------------
// devicelink.txt: the offer parses as "Device linking" lays it out; its
// code, the code as people read it (Crockford base32 and a check
// character) and the welcome's path are the recorded ones.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function checkDeviceLink(text) {
  const v = keyValues(text);
  const offer = unhex(v.offer);
  if (offer[0] !== 1) refuse('version', 'offer version');
  let o = 34;
  const count = offer[33];
  if (count < 1 || count > 2) refuse('malformed', 'offer keys');
  for (let i = 0; i < count; i++) { o += 2; o += 2 + readU16(offer, o); }
  const n = readU16(offer, o);
  const label = new TextDecoder().decode(offer.subarray(o + 2, o + 2 + n));
  if (o + 2 + n !== offer.length || !/^[a-z0-9-]{1,32}$/.test(label)) refuse('malformed', 'offer label or length');
  same(label, v.label);
  const code = sha256(cat(ascii('parley/device-link/v1'), str(v['chain-id']), offer)).subarray(0, 10);
  same(hex(code), v.code);
  let bits = 0n;
  for (const b of code) bits = (bits << 8n) | BigInt(b);
  let chars = '';
  for (let i = 15; i >= 0; i--) chars += CROCKFORD[Number((bits >> BigInt(5 * i)) & 31n)];
  chars += CROCKFORD[sha256(cat(ascii('parley/link-code-check/v1'), code))[0] >> 3];
  same(chars.match(/.{1,4}/g).join('-'), v.text);
  same('k/' + hex(hmac(sha256, code, ascii('parley/device-link-path/v1')).subarray(0, 16)), v.path);
  // The same offer bound to a name (link-offer-for).
  same(hex(sha256(cat(ascii('parley/device-link-for/v1'), str(v['chain-id']), str(v.for), offer)).subarray(0, 10)), v['bound-code']);
}

// ---- Device-pair sessions ------------------------------------------------
// devicesession.txt: a device introduction's path, the session's header
// key and path keys, and a's message 0 path, from "Device-pair sessions";
// a group device link's introduction path, root and header key.
function checkDeviceSession(text) {
  const v = keyValues(text);
  const pa = `${v.alice}|${v['alice-device']}`, pb = `${v.bob}|${v['bob-device']}`;
  const salt = ascii('parley/v1');
  same(hex(ascii('p/' + hex(HKDF(unhex(v['pair-secret']), salt, `parley/device-intro-path/v1|${pa}|to|${pb}`, 16)))), hex(ascii(v['intro-path-a-to-b'])));
  const [p, q] = [pa, pb].sort();
  const K = unhex(v['mutual-key']);
  same(hex(HKDF(K, salt, `parley/device-session/v1|header|${p}|${q}`, 32)), v['header-key']);
  const ab = HKDF(K, salt, `parley/device-session/v1|path|${p}|${q}|from|${pa}`, 32);
  same(hex(ab), v['path-key-a-to-b']);
  same(hex(HKDF(K, salt, `parley/device-session/v1|path|${p}|${q}|from|${pb}`, 32)), v['path-key-b-to-a']);
  same(messagePath(ab, 0n), v['message-0-path-a-to-b']);
  // A group device link on the same pair and key ("Groups on several
  // devices"): its own introduction path, and LinkKey(K) as its root.
  same(hex(ascii('p/' + hex(HKDF(unhex(v['pair-secret']), salt, `parley/group-device-path/v1|${pa}|to|${pb}`, 16)))), hex(ascii(v['group-link-intro-path-a-to-b'])));
  const L = HKDF(K, salt, 'parley/link/v1', 32);
  same(hex(L), v['group-link-root']);
  same(hex(HKDF(L, salt, `parley/device-session/v1|header|${p}|${q}`, 32)), v['group-link-header-key']);
}

const CHECKS = { 'native-token.txt': checkToken, 'inbox-stamp.txt': checkStamp, 'safety.txt': checkSafety, 'link.txt': checkLink, 'backup.txt': checkBackup,
  'recovery.txt': checkRecovery, 'devicelink.txt': checkDeviceLink,
  'devicesession.txt': checkDeviceSession };
for (const file of process.argv.slice(3)) {
  const check = CHECKS[file.split('/').pop()];
  if (!check) { console.log(`FAIL ${file}: no check for this file`); failed++; continue; }
  try {
    check(readFileSync(file, 'utf8'));
    console.log(`ok   ${file}: success`);
    passed++;
  } catch (e) {
    console.log(`FAIL ${file}: ${e.stack || e}`);
    failed++;
  }
}
for (const f of Object.keys(FORMATS)) {
  if (!seen[f]) { console.log(`FAIL no ${f} vectors`); failed++; }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
