#!/usr/bin/env bash
# Run one irctest selection against lanchat and write a JUnit XML report.
# Usage: tools/irctest/run.sh IRCTEST_DIR classic|services [JUNIT_XML] [extra pytest args...]
# Env: IRCTEST_PYTHON (python with irctest's requirements, default python3),
#      IRCTEST_SANDBOX_DIR (folder with irctest_sandbox.py, default ../shared/irctest
#      next to the repo; used only if present), LANCHAT_BIN, IRCTEST_JOBS (default 2).
set -euo pipefail
usage="usage: $0 IRCTEST_DIR classic|services [JUNIT_XML] [pytest args...]"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
src="$(cd "${1:?$usage}" && pwd)"
sel="${2:?$usage}"
junit="$(realpath -m "${3:-irctest-$sel.xml}")"
shift $(( $# < 3 ? $# : 3 ))
base='not implementation-specific and not deprecated and not strict'
case "$sel" in
  classic) marks="not services and $base" ;;
  services) marks="services and $base" ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
pypath="$here"; plugin=()
sandbox="${IRCTEST_SANDBOX_DIR:-$repo/../shared/irctest}"
if [ -f "$sandbox/irctest_sandbox.py" ]; then pypath="$sandbox:$pypath"; plugin=(-p irctest_sandbox); fi
if [ -z "${LANCHAT_BIN:-}" ] && [ -x "$repo/.venv/bin/lanchat" ]; then export LANCHAT_BIN="$repo/.venv/bin/lanchat"; fi
cd "$src"
PYTHONPATH="$pypath${PYTHONPATH:+:$PYTHONPATH}" exec "${IRCTEST_PYTHON:-python3}" -m pytest \
  --controller lanchat_controller "${plugin[@]}" -n "${IRCTEST_JOBS:-2}" --timeout 120 \
  -m "$marks" --junit-xml "$junit" "$@"
