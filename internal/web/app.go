package web

import (
	"embed"
	"io/fs"
)

// app holds the web app's files: index.html, the style sheet and the
// JavaScript modules, written for the browser as they are (no build
// step, no dependency).
//
//go:embed app
var app embed.FS

// appFS is the app's files at their paths under /.
func appFS() fs.FS {
	sub, err := fs.Sub(app, "app")
	if err != nil {
		panic(err) // the embedded tree always has app/
	}
	return sub
}
