#!/usr/bin/env bash
# The published table for dynamically binarised Fashion-MNIST (Exemplar VAE, NeurIPS 2020:
# negative log-likelihood in nats, importance-weighted with K = 5000) beside what this build
# reaches with the configurations of examples/paper/, one per row it can express.
#
#   scripts/paper.sh [--vae PATH] [--runs DIR] [--iw K] [--only NAME] [-- FLAGS...]
#
# Each examples/paper/NAME.json trains into DIR/NAME (default runs/paper/NAME) as
#   vae train --config examples/paper/NAME.json --data fashion-mnist --binarize dynamic FLAGS...
# (the file holds the model and the recipe: batch 100, Adam lr 5e-4, KL warm-up over 100 epochs,
# early stopping on the validation loss with patience 50, at most 2000 epochs, the last 10,000
# training images as validation set). The script is resumable: a run folder whose final.json
# exists and does not say "interrupted" is finished and only evaluated; one with a
# last.safetensors continues with `vae train --resume` (stop the script, or the training with
# Ctrl-C, at any time and start the script again). FLAGS after `--` go to
# every new run (`-- --epochs 5 --threads 2`; `--epochs` also reaches a resumed run).
# Then `vae eval BEST --iw K` (default 5000) on the 10,000 test images, saved as
# DIR/NAME/eval-iwK.json (again whenever best.safetensors is newer), and one table: model | paper
# NLL | this NLL (IW K) | best epoch / epochs run | training seconds. --only NAME trains and
# evaluates that configuration alone; the table still shows every run folder as it stands.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
vae="${VAE:-$root/build/vae}"
runs="runs/paper"
iw=5000
only=""
flags=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --vae) vae="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --iw) iw="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --) shift; flags=("$@"); break ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "paper.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x "$vae" ]] || { echo "paper.sh: $vae: not an executable (build it, or give --vae)" >&2; exit 1; }

# The epochs flag among FLAGS, for a resumed run (the only recipe flag --resume may change).
resume_flags=()
for ((i = 0; i < ${#flags[@]}; ++i)); do
  case "${flags[$i]}" in
    --epochs) resume_flags+=(--epochs "${flags[$((i + 1))]}") ;;
    --epochs=*|--threads=*) resume_flags+=("${flags[$i]}") ;;
    --threads) resume_flags+=(--threads "${flags[$((i + 1))]}") ;;
  esac
done

names=()  # every configuration: the table shows each one's run as it stands
for cfg in "$root"/examples/paper/*.json; do
  name="$(basename "$cfg" .json)"
  names+=("$name")
  [[ -z "$only" || "$only" == "$name" ]] || continue
  out="$runs/$name"
  if [[ -f "$out/final.json" ]] && ! grep -q '"interrupted": *true' "$out/final.json"; then
    echo "== $name: finished ($out/final.json)"
  elif [[ -f "$out/last.safetensors" ]]; then
    echo "== $name: resuming $out"
    "$vae" train --resume "$out/last.safetensors" ${resume_flags[@]+"${resume_flags[@]}"}
  else
    echo "== $name: training into $out"
    mkdir -p "$runs"
    "$vae" train --config "$cfg" --data fashion-mnist --binarize dynamic --out "$out" \
      ${flags[@]+"${flags[@]}"}
  fi
  if [[ ! -f "$out/eval-iw$iw.json" || "$out/best.safetensors" -nt "$out/eval-iw$iw.json" ]]; then
    echo "== $name: vae eval --iw $iw"
    "$vae" eval "$out/best.safetensors" --iw "$iw" --out "$out/eval-iw$iw.json" >/dev/null
  fi
done

python3 - "$runs" "$iw" "${names[@]}" <<'PY'
import json, os, sys
runs, iw, names = sys.argv[1], sys.argv[2], sys.argv[3:]
# The published figures (nats, IW K = 5000), by the name of the configuration of each row.
paper = [
    ("vae-gated", "VAE, Gaussian prior (GatedDense 300-300, latent 40)", "228.70 ± 0.15"),
    ("vae-vamp", "VAE with VampPrior (GatedDense 300-300, latent 40, K = 500)", "227.35 ± 0.05"),
    ("hvae-gated", "HVAE (two stochastic layers, GatedDense 300-300, latents 40 + 40), Gaussian prior", "227.37 ± 0.10"),
    ("exemplar-vae", "Exemplar VAE", "226.75 ± 0.07"),
    ("convhvae", "ConvHVAE (conv encoders, gated 300, latents 40 + 40), Gaussian prior", "225.38 ± 0.08"),
]
print(f"| model | paper NLL | this build, NLL (IW K={iw}) | best epoch / epochs run | training s |")
print("|---|---|---|---|---|")
for key, label, figure in paper:
    run = os.path.join(runs, key)
    if key not in names:
        print(f"| {label} | {figure} | (no configuration) | | |")
        continue
    if not os.path.isdir(run):
        print(f"| {label} | {figure} | (not run) | | |")
        continue
    ev = os.path.join(run, f"eval-iw{iw}.json")
    nll = f"{json.load(open(ev))['iw']['nll']:.2f}" if os.path.exists(ev) else "(not evaluated)"
    epochs, seconds = "", 0.0
    if os.path.exists(os.path.join(run, "metrics.jsonl")):
        rows = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl")) if l.strip()]
        seconds = sum(r.get("seconds", 0.0) for r in rows)
        epochs = str(len(rows))
    if os.path.exists(os.path.join(run, "final.json")):
        f = json.load(open(os.path.join(run, "final.json")))
        epochs = f"{f['best_epoch']} / {f['epochs_run']}" + (" (interrupted)" if f.get("interrupted") else "")
    print(f"| {label} | {figure} | {nll} | {epochs} | {seconds:.0f} |")
PY
