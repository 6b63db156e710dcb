#!/usr/bin/env bash
# The main job of `make demo`: real faces -> a training archive -> a StyleGAN2 trained on the CPU
# for a few minutes -> samples, a style-mixing grid, a truncation sweep and progress.gif.
# Usage: scripts/demo.sh PYTHON OUTDIR [KIMG]
set -euo pipefail
PY=${1:?usage: demo.sh PYTHON OUTDIR [KIMG]}
OUT=${2:?usage: demo.sh PYTHON OUTDIR [KIMG]}
KIMG=${3:-20}
facegan() { "$PY" -m facegan "$@"; }

mkdir -p "$OUT"
echo "== 1/4 dataset: the 100 real LFW faces scikit-image ships, at 32x32"
facegan dataset create --source builtin:lfw-subset --dest "$OUT/lfw-subset.zip" --resolution 32 --force -q
facegan dataset info "$OUT/lfw-subset.zip" --preview "$OUT/lfw-subset-preview.png"

echo "== faces from a real photo: scikit-image's astronaut, found and aligned as FFHQ's faces were"
"$PY" -c "import sys, skimage.data, PIL.Image; PIL.Image.fromarray(skimage.data.astronaut()).save(sys.argv[1])" \
    "$OUT/astronaut.png"
facegan align "$OUT/astronaut.png" --outdir "$OUT/aligned" --resolution 256 --faces largest

echo "== 2/4 training: StyleGAN2 'tiny' preset, $KIMG kimg on the CPU (a few minutes; Ctrl-C stops cleanly)"
facegan train --data "$OUT/lfw-subset.zip" --arch stylegan2 --cfg tiny --kimg "$KIMG" --mirror --aug ada \
    --outdir "$OUT/runs" --desc demo --snap 5
RUN=$(ls -d "$OUT"/runs/*-demo | tail -n 1)
NET="$RUN/network-final.safetensors"

echo "== 3/4 generation from $NET"
facegan generate --network "$NET" --seeds 0-35 --trunc 0.7 --grid --outdir "$OUT/samples" --no-latents
facegan style-mix --network "$NET" --rows 1,2,3,4 --cols 5,6,7,8 --styles coarse --outdir "$OUT/style-mix"
facegan truncation-sweep --network "$NET" --seeds 1,2,3 --output "$OUT/truncation-sweep.png"

echo "== 4/4 done. Look at:"
echo "  dataset preview    $OUT/lfw-subset-preview.png"
echo "  an aligned face    $OUT/aligned/astronaut_00.png  (from $OUT/astronaut.png; try: facegan align YOUR.jpg --outdir aligned)"
echo "  training run       $RUN  (log.txt, stats.jsonl, fakes*.png, progress.gif)"
echo "  samples            $OUT/samples/grid.png"
echo "  style mixing       $OUT/style-mix/grid.png"
echo "  truncation sweep   $OUT/truncation-sweep.png"
echo "  the network        $NET   (try: .venv/bin/facegan generate --network $NET --seeds 100-103 --outdir out)"
echo "  the game           .venv/bin/facegan serve --network $NET --data $OUT/lfw-subset.zip   (then open http://127.0.0.1:8000)"
