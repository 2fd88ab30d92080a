#!/usr/bin/env bash
# CTest torch_export_python: C++ exports every zoo model (and fp-agent exports one
# masked artifact), then Python rebuilds them with fineprune_ref.py and compares logits.
# usage: test_export.sh <export_fixture> <fp-agent> <work dir>. Exit 77: SKIPPED.
set -euo pipefail
fixture=$1 agent=$2 dir=$3
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
rm -rf "$dir" && mkdir -p "$dir"
"$fixture" "$dir"
"$agent" export --model "$dir/cnn_masked.fpm" --out "$dir/cli_cnn"
exec "$py" "$here/check_export.py" "$dir" "cli_cnn=cnn_io.pt"
