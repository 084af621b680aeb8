package lookup_test

import "crypto/ecdh"

func ecdhCurve() ecdh.Curve { return ecdh.X25519() }
