// Package wire holds the client's formats: contact handshakes, message
// blobs and the hub paths they live at. It is pure: keys and bytes in,
// bytes out.
//
// # Handshake (contact request and introduction)
//
// The requester makes a fresh 32-byte mutual key K and sends it in an
// envelope that only the recipient can open and that the recipient can
// check came from the requester:
//
//	body      = u8 version(2) ‖ str(from) ‖ str(to) ‖ K[32] ‖ u64 unix time
//	          ‖ str(greeting) ‖ zero[MaxGreeting - len(greeting)] ‖ signature[64]
//	signature = Ed25519(sender's on-chain signing key,
//	            "parley/handshake/v1" ‖ body without signature ‖ recipient's sealing key)
//	envelope  = u8 version(1) ‖ u16 KEM id ‖ u16 len ‖ enc ‖ HPKE ciphertext of body
//
// The greeting (at most [MaxGreeting] bytes, padded to it) is what the
// recipient is shown before answering, so it never reads the requester's
// hubs to show a request ([GreetingPreview] makes it from a longer first
// message). A version 1 body has no greeting (nor padding) and still opens.
//
// HPKE is base mode with the recipient's hybrid MLKEM768-X25519 key when
// its record has one, else X25519; HKDF-SHA256; ChaCha20-Poly1305; info
// "parley/handshake/v1" ‖ str(to). The signature covers the recipient's
// sealing key, so an envelope cannot be re-sealed to someone else. The
// recipient verifies it with the signing key that the chain (checked by
// proof) lists for the sender's name. The Double Ratchet then starts from
// K: the requester is its "Alice", with the recipient's on-chain X25519 key
// as the first ratchet key (the role of Signal's signed prekey), so the
// requester can send at once; the recipient is "Bob".
//
// Both sides can also compute a pair secret without any message:
// X25519 between their published keys. From it, [IntroPath] names where
// each writes an introduction on its own hub when they already know each
// other's names (case 1: no inbox, no third party).
//
// # Messages
//
// A conversation's secrets come from K (HKDF-SHA256, salt "parley/v1"):
// a header key and, per direction, a path key. Message i from A to B lives
// on A's hub at [MessagePath](pathKey(A→B), i): 32 hex digits of
// HMAC-SHA256(pathKey, u64 i), which no one without the key can link to a
// conversation, a sender or a counter. A blob is
//
//	u8 version(2) ‖ nonce[24] ‖ XChaCha20-Poly1305(header key, nonce, ratchet header, ad)
//	‖ ratchet ciphertext of (KEM fields ‖ padded plaintext) ‖ zeros
//
// where the plaintext is padded (u32 length ‖ text ‖ zeros) so that every
// blob has one of the sizes in [Buckets]: the first message of a ratchet
// chain carries the ratchet's ML-KEM fields (1184 or 2272 bytes, see
// package ratchet), so a short one is 4 KiB, the others 1 KiB. Version 1
// blobs (the previous client's: a 40-byte header, no KEM fields) still
// open. The hub sees random paths and a few fixed sizes.
//
// It is pure: it owns the formats' bytes and their paths, and must not do
// I/O, read a clock or decide who may read what.
package wire
