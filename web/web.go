// Package web holds the files Herald serves to browsers, embedded in the
// binary: the dashboard (web/dashboard: a page, its script and its style,
// plain HTML, JavaScript and CSS with no build step; see docs/dashboard.md).
package web

import (
	"embed"
	"io/fs"
)

//go:embed dashboard
var files embed.FS

// Dashboard returns the dashboard's files: index.html, app.js, style.css.
func Dashboard() fs.FS {
	sub, err := fs.Sub(files, "dashboard")
	if err != nil { // cannot happen: the directory is embedded
		panic(err)
	}
	return sub
}
