package bns

import "crypto/ecdh"

var ecdhX25519 = ecdh.X25519()
