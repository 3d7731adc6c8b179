#!/usr/bin/env bash
# Side-by-side lattice-n benchmark: physlearn vs bench/reference/scipy_ref.py (RK45 + CHOLMOD,
# segments), in the same run on the same machine, on the same initial g vector.
# Needs: python3 with numpy, scipy and scikit-sparse (apt-get install -y libsuitesparse-dev;
# pip install numpy scipy "scikit-sparse<0.5"). Usage: bench/lattice_compare.sh N [V_LEFT]
# SCIPY_THREADS=k pins SciPy's BLAS/OpenMP threads (CHOLMOD) to k; unset: the library default.
# On a shared machine the default (all cores) can be several times slower than one thread.
set -euo pipefail
n=${1:?usage: lattice_compare.sh N [V_LEFT]}
v=${2:-1.0}
root=$(cd "$(dirname "$0")/.." && pwd)
ref="$root/bench/reference"
work=${WORK:-$(mktemp -d)}
cd "$work"
python3 "$ref/lattice.py" "$n" >/dev/null
g0="$work/lattice-data/g0_n$n.txt"
if [ -n "${SCIPY_THREADS:-}" ]; then
  export OMP_NUM_THREADS=$SCIPY_THREADS OPENBLAS_NUM_THREADS=$SCIPY_THREADS MKL_NUM_THREADS=$SCIPY_THREADS
fi
python3 "$ref/scipy_ref.py" "$n" --method RK45 --solver cholmod --segments --v-left "$v" --out "$work/scipy" >/dev/null
cargo run --quiet --release --manifest-path "$root/Cargo.toml" -- bench lattice --n "$n" --v-left "$v" --g0 "$g0" --out "$work/physlearn"
python3 - "$work" <<'PY'
import json, os, sys
w = sys.argv[1]
ref = json.load(open(f"{w}/scipy.json")); ours = json.load(open(f"{w}/physlearn/bench.json"))
g1 = [float(x) for x in open(f"{w}/physlearn/g_final.txt")]; g2 = [float(x) for x in open(f"{w}/scipy_g.txt")]
dg = max(abs(a - b) / abs(b) for a, b in zip(g1, g2)); dv = max(abs(a - b) for a, b in zip(ours["vout"], ref["vout"]))
print(json.dumps({"n": ours["n"], "v_left": ours["v_left"], "scipy_threads": os.environ.get("SCIPY_THREADS", "default"),
                  "scipy_s": ref["t_integrate"], "physlearn_s": ours["wall_seconds"], "physlearn_cpu_s": ours.get("cpu_seconds"),
                  "speedup": ref["t_integrate"] / ours["wall_seconds"], "g_final_max_rel_diff": dg, "vout_max_abs_diff": dv,
                  "rhs": [ours["rhs_evals"], ref["nfev"]], "physlearn_peak_rss_mib": (ours["peak_rss_bytes"] or 0) / 2**20}))
PY
