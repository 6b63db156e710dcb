#!/usr/bin/env bash
# Install PyTorch into the Python interpreter given as $1, unless it already has one.
#   - a machine with an NVIDIA GPU (nvidia-smi answers) or a Mac: any torch from PyPI (CUDA / MPS builds);
#   - otherwise the CPU build, from PyTorch's CPU index, or, where that index cannot be reached, the
#     pinned release 2.13.0 (which machines without internet keep in a local wheel directory).
# A plain `pip install torch` on a Linux machine without a GPU would pull a multi-GB CUDA build.
set -euo pipefail
PY=${1:?usage: install_torch.sh PYTHON}

if "$PY" -c "import torch" 2>/dev/null; then
    echo "torch $("$PY" -c 'import torch; print(torch.__version__)') already installed"
    exit 0
fi

if [ "$(uname -s)" = "Darwin" ] || { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
    echo "GPU or macOS found: installing torch from PyPI"
    "$PY" -m pip install "torch>=2.1"
    exit 0
fi

echo "no GPU found: installing the CPU build of torch"
if "$PY" - <<'PYEOF'
import sys, urllib.request
try:
    urllib.request.urlopen("https://download.pytorch.org/whl/cpu/torch/", timeout=10)
except Exception:
    sys.exit(1)
PYEOF
then
    "$PY" -m pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
        || "$PY" -m pip install "torch==2.13.0"
else
    "$PY" -m pip install "torch==2.13.0"
fi
