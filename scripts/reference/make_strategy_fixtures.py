"""Expected outputs of the DFDC solution's `confident_strategy` (kernel_utils.py; dfdc-solution.md §5.5) and of
the final `np.mean` over models, in float32 (CPU inference) and float16 (the original's GPU `.half()` path).

The strategy is re-stated here from the reference document, with numpy doing the arithmetic, so that numpy's
dtype rules (a Python float threshold compared in the array's dtype; float16 means accumulated in float32 then
rounded to float16) and its pairwise summation are what the Rust port is checked against.

Output: tests/fixtures/infer/strategy.json. Deterministic (seeded).
Run: . $PYREF_VENV/bin/activate && python scripts/reference/make_strategy_fixtures.py
"""
import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "infer" / "strategy.json"


def confident_strategy(pred, t=0.8):
    pred = np.array(pred)
    sz = len(pred)
    fakes = np.count_nonzero(pred > t)
    if fakes > sz // 2.5 and fakes > 11:
        return np.mean(pred[pred > t])
    elif np.count_nonzero(pred < 0.2) > 0.9 * sz:
        return np.mean(pred[pred < 0.2])
    else:
        return np.mean(pred)


def cases(rng):
    out = []
    # Random mixtures of every size the solution can see (1..127 faces), several shapes of distribution.
    for n in list(range(1, 40)) + [50, 63, 64, 65, 100, 126, 127]:
        for kind in ("uniform", "fakeish", "realish", "split"):
            if kind == "uniform":
                p = rng.random(n)
            elif kind == "fakeish":
                p = np.where(rng.random(n) < 0.7, rng.uniform(0.8, 1.0, n), rng.random(n))
            elif kind == "realish":
                p = np.where(rng.random(n) < 0.95, rng.uniform(0.0, 0.2, n), rng.random(n))
            else:
                p = np.where(rng.random(n) < 0.5, rng.uniform(0.79, 0.81, n), rng.uniform(0.19, 0.21, n))
            out.append((f"{kind}_{n}", p))
    # Edges: exactly at the thresholds, counts around n // 2.5 and 11, and 0.9·n.
    out.append(("twelve_of_32_fake", np.array([0.9] * 12 + [0.5] * 20)))  # 12 > 12.0 is false
    out.append(("thirteen_of_32_fake", np.array([0.9] * 13 + [0.5] * 19)))
    out.append(("twelve_of_29_fake", np.array([0.9] * 12 + [0.5] * 17)))  # 12 > 11.0 and > 11
    out.append(("eleven_of_20_fake", np.array([0.9] * 11 + [0.5] * 9)))  # > 8.0 but not > 11
    out.append(("at_threshold", np.array([0.8] * 20 + [0.2] * 12)))
    out.append(("just_above_threshold", np.array([0.80001] * 20 + [0.19999] * 12)))
    out.append(("real_29_of_32", np.array([0.1] * 29 + [0.5] * 3)))  # 29 > 28.8
    out.append(("real_28_of_32", np.array([0.1] * 28 + [0.5] * 4)))
    out.append(("single", np.array([0.97])))
    return out


def main():
    rng = np.random.default_rng(2020)
    rows = []
    for name, p in cases(rng):
        row = {"name": name}
        for dt in ("float32", "float16"):
            arr = p.astype(dt)
            s = confident_strategy(arr)
            assert s.dtype == np.dtype(dt), (name, dt, s.dtype)
            row[dt] = {"probs": [float(x) for x in arr], "score": float(s)}
        rows.append(row)
    # The ensemble: np.mean over per-model scores (a list of numpy scalars of the prediction dtype).
    ensembles = []
    for k in (1, 2, 3, 7):
        for dt in ("float32", "float16"):
            scores = [np.dtype(dt).type(x) for x in rng.random(k)]
            ensembles.append({"dtype": dt, "scores": [float(x) for x in scores], "mean": float(np.mean(scores))})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc = {"generator": "scripts/reference/make_strategy_fixtures.py", "numpy": np.__version__,
           "cases": rows, "ensembles": ensembles}
    OUT.write_text(json.dumps(doc, indent=None, separators=(",", ":")) + "\n")
    print(f"{len(rows)} cases, {len(ensembles)} ensembles -> {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
