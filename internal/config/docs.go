package config

import (
	"fmt"
	"strings"
)

// Reference returns the Markdown reference of every key with its aliases,
// default and meaning, generated from Directives.
func Reference() string {
	var b strings.Builder
	section := func(title, intro string, scope Scope) {
		fmt.Fprintf(&b, "### %s\n\n%s\n\n| key | default | aliases | meaning |\n|---|---|---|---|\n", title, intro)
		for _, d := range Directives() {
			if d.Scope != scope {
				continue
			}
			def := d.Default
			if def == "" {
				def = "(none)"
			}
			aliases := "–"
			if len(d.Aliases) > 0 {
				aliases = "`" + strings.Join(d.Aliases, "`, `") + "`"
			}
			fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", d.Name, def, aliases, strings.ReplaceAll(d.Doc, "|", "\\|"))
		}
		b.WriteString("\n")
	}
	section("Top-level keys", "These go at the top level of the file only.", ScopeGlobal)
	section("Server-wide keys", "These go in a server; written at the top level they are defaults for every server.", ScopeServer)
	section("Location keys", "These go in a location; written at the top level or in a server they are defaults for the locations below.", ScopeLocation)
	section("Push-stream http-level keys", "These go at the top level only, as in nginx-push-stream-module's http block: every location shares them. See docs/pushstream.md.", ScopeHTTP)
	return b.String()
}
