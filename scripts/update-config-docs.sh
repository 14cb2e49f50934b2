#!/usr/bin/env bash
# Regenerates the key reference in docs/configuration.md from the code.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=$(go run ./cmd/herald config docs)
ref="$ref" awk '
  BEGIN { ref = ENVIRON["ref"] }
  /<!-- BEGIN GENERATED REFERENCE -->/ { print; print ref; skip = 1; next }
  /<!-- END GENERATED REFERENCE -->/ { skip = 0 }
  !skip { print }
' docs/configuration.md > docs/configuration.md.new
mv docs/configuration.md.new docs/configuration.md
