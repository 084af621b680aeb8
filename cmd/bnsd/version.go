package main

import "github.com/parley-im/parley/chain/app"

func appVersion() string { return app.Version }
