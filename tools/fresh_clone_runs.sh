#!/usr/bin/env bash
# Runs the test suite in N fresh clones of this repository in a row (docs/reliability.md, "Fresh-clone
# runs"): each clone starts with no .hypothesis example database and no caches, and runs pytest as
# the README does (without CI=true, so hypothesis draws new examples every run). The package is
# built once, from a fresh clone, into one virtual environment that every run imports.
#   tools/fresh_clone_runs.sh 20 [log folder]
set -euo pipefail
runs="${1:-20}"
logs="${2:-$(mktemp -d)}"
mkdir -p "$logs"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
git clone -q "$repo" "$work/build-clone"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$work/build-clone[test]"
for run in $(seq 1 "$runs"); do
  git clone -q "$repo" "$work/clone-$run"
  if (cd "$work/clone-$run" && env -u CI "$work/venv/bin/python" -m pytest -q tests \
        > "$logs/run-$run.log" 2>&1); then
    echo "run $run: $(tail -n 1 "$logs/run-$run.log")"
  else
    echo "run $run FAILED: $(tail -n 1 "$logs/run-$run.log") (log: $logs/run-$run.log)"
    exit 1
  fi
  rm -rf "$work/clone-$run"
done
echo "$runs fresh-clone runs passed; logs in $logs"
