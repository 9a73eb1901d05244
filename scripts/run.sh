#!/usr/bin/env bash
# The two entry points of a fresh clone:
#   bash scripts/run.sh demo   build, then open the extension in a real VS Code on the demo folder
#   bash scripts/run.sh test   build, then run every test suite
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  demo) bash scripts/setup.sh && npm run --silent demo ;;
  test) bash scripts/setup.sh && npm test ;;
  *) echo "usage: bash scripts/run.sh demo|test" >&2; exit 2 ;;
esac
