#!/usr/bin/env bash
# CTest torch_export_python: C++ exports every zoo model (and fp-agent exports one
# masked artifact), then Python rebuilds them with fineprune_ref.py and compares logits.
# usage: test_export.sh <export_fixture> <fp-agent> <work dir>. Exit 77: SKIPPED.
set -euo pipefail
usage="usage: test_export.sh <export_fixture> <fp-agent> <work dir>"
fixture=${1:?$usage} agent=${2:?$usage} dir=${3:?$usage}
for program in "$fixture" "$agent"; do
  [ -x "$program" ] || { echo "test_export.sh: $program is no program; $usage" >&2; exit 2; }
done
# The work folder is emptied first: only one this script made (its mark inside), or a new
# or empty one, never a folder of someone's files given by mistake.
mark=.test_export_work
if [ -d "$dir" ] && [ ! -e "$dir/$mark" ] && [ -n "$(ls -A "$dir")" ]; then
  echo "test_export.sh: $dir holds files this script did not make; give a new or empty folder" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
py=""
for cand in /usr/bin/python3 python3; do  # Debian's python3-torch lives in /usr/bin's
  if command -v "$cand" >/dev/null && "$cand" -c "import torch" 2>/dev/null; then
    py=$cand
    break
  fi
done
if [ -z "$py" ]; then
  echo "SKIP: no python3 that imports torch (scripts/setup installs python3-torch)"
  exit 77
fi
rm -rf "$dir" && mkdir -p "$dir" && touch "$dir/$mark"
"$fixture" "$dir"
"$agent" export --model "$dir/cnn_masked.fpm" --out "$dir/cli_cnn"
"$py" "$here/check_export.py" "$dir" "cli_cnn=cnn_io.pt"
# Bad input: a damaged export is one FAIL line and the others are still checked (the first
# traceback ended the check); an argument that is no PREFIX=IO is named (a ValueError).
cp "$dir/cnn.json" "$dir/broken.json" && cp "$dir/cnn.pt" "$dir/broken.pt"
printf 'garbage\n' >"$dir/broken_io.pt"
if out=$("$py" "$here/check_export.py" "$dir" "cli_cnn=cnn_io.pt" 2>&1); then
  echo "FAIL: a damaged export passed: $out"
  exit 1
fi
if ! grep -q "^FAIL $dir/broken: " <<<"$out" || ! grep -q "export(s) checked, 1 failed" <<<"$out" ||
  grep -q Traceback <<<"$out"; then
  echo "FAIL: a damaged export is not one FAIL line among the checked ones: $out"
  exit 1
fi
rm "$dir"/broken*
out=$("$py" "$here/check_export.py" "$dir" cli_cnn 2>&1) && exit 1
grep -q "'cli_cnn' is no PREFIX=IO" <<<"$out" || { echo "FAIL: $out"; exit 1; }
echo "bad input: named"
