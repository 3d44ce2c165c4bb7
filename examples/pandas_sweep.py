#!/usr/bin/env python3
"""Run a kvr sweep through the CLI and read its CSV with pandas (needs only pandas).

    python3 examples/pandas_sweep.py            # from the repository root, after `npm install`

The sweep writes kvr-out/sweep.csv in the working directory (never over the spec). Its columns are
tidy: one row per scenario; the resolved scenario in base units with the unit in the column name
(gpu_count, context_tokens, bandwidth_Bps, latency_s), then ttft_s, flops_total, comm_bytes_total,
peak_mem_bytes; an invalid scenario has an `error` and empty results. schemas/kvr-sweep-row.schema.json
describes the same columns as the .jsonl file.
"""
import os
import subprocess
import sys

import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "examples", "sweep.yaml")
KVR = os.path.join(ROOT, "bin", "kvr.js")


def main() -> int:
    out = os.path.join("kvr-out", "pandas-sweep")
    os.makedirs("kvr-out", exist_ok=True)
    subprocess.run(["node", KVR, "sweep", SPEC, "--out", out], check=True)
    df = pd.read_csv(f"{out}.csv")
    ok = df[df["error"].isna()].copy()
    ok["ttft_ms"] = ok["ttft_s"] * 1e3
    ok["bandwidth_GBps"] = ok["bandwidth_Bps"] / 1e9
    # KV-Runahead's gain over the TSP baseline, per model, GPU, GPU count, link and context.
    keys = ["model", "gpu", "gpu_count", "bandwidth_GBps", "context_tokens"]
    wide = ok[ok["strategy"].isin(["tsp", "kvr-e", "kvr-s"])].pivot_table(index=keys, columns="strategy", values="ttft_ms")
    wide["kvr-s speedup vs tsp"] = wide["tsp"] / wide["kvr-s"]
    pd.set_option("display.width", 160)
    print(wide.round(3).head(24).to_string())
    print(f"\n{len(df)} rows, {df['error'].notna().sum()} invalid; mean kvr-s speedup over tsp {wide['kvr-s speedup vs tsp'].mean():.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
