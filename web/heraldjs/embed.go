// Package heraldjs holds Herald's browser client, herald.js, and its
// TypeScript declarations, herald.d.ts, embedded in the binary and served
// by locations with herald_js (see docs/browser-client.md).
package heraldjs

import _ "embed"

// JS is herald.js.
//
//go:embed herald.js
var JS []byte

// Types is herald.d.ts.
//
//go:embed herald.d.ts
var Types []byte
