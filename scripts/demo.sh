#!/usr/bin/env bash
# Set up (if needed) and run the main job on the embedded default: build the tiny hx-synth
# benchmark, run the bundled models on it, score them and write demo/report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/hxbench demo --out demo "$@"
