package client

import "crypto/hpke"

type hpkeKey = hpke.PrivateKey
