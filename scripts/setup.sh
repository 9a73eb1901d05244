#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: npm packages, numpy for the golden references, the Rust
# wasm32 toolchain (via build-wasm.sh) and, for end-to-end tests and the demo, Chromium and code-server
# (via setup-e2e.sh). Idempotent; each step skips work already done.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# numpy computes the independent float64 references; without it the golden tests use checked-in numbers.
if command -v python3 >/dev/null && ! python3 -c 'import numpy' 2>/dev/null; then
  python3 -m pip install --quiet numpy || echo "setup: numpy could not be installed; golden tests will use checked-in references"
fi

# The safetensors package reads merged outputs back in the golden tests (skipped with a message when missing).
if command -v python3 >/dev/null && ! python3 -c 'import safetensors' 2>/dev/null; then
  python3 -m pip install --quiet safetensors || echo "setup: safetensors could not be installed; its read-back test will be skipped"
fi

# gguf-py is the independent reference for GGUF (header reader, dequantization); without it those tests skip.
if command -v python3 >/dev/null && ! python3 -c 'import gguf' 2>/dev/null; then
  python3 -m pip install --quiet "gguf==0.19.0" || echo "setup: the gguf Python package could not be installed; GGUF golden tests will skip"
fi

# The onnx package (its own protobuf parser and numpy_helper) is the independent reference for ONNX models; without
# it the ONNX golden tests skip.
if command -v python3 >/dev/null && ! python3 -c 'import onnx' 2>/dev/null; then
  python3 -m pip install --quiet onnx || echo "setup: onnx could not be installed; the ONNX golden tests will skip"
fi

if [ "${1:-}" != "--no-e2e" ]; then
  bash scripts/setup-e2e.sh
fi
