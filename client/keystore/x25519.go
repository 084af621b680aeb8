package keystore

import "crypto/ecdh"

func x25519() ecdh.Curve { return ecdh.X25519() }
