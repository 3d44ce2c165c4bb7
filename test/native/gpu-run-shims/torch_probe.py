#!/usr/bin/env python3
"""Stand-in for calibration/probe/torch_probe.py in gpu-run.sh --dry-run (KVR_GPU_RUN_PROBE)."""
import argparse
import json
import os
import time

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("--budget-s", type=float, required=True)
args = parser.parse_args()
# A test that interrupts the probe waits for this file: the probe is running, not starting.
if os.environ.get("KVR_SHIM_PROBE_STARTED"):
    with open(os.environ["KVR_SHIM_PROBE_STARTED"], "w", encoding="utf-8") as f:
        f.write(str(os.getpid()))
time.sleep(float(os.environ.get("KVR_SHIM_PROBE_SLEEP_S", "0")))
with open(args.out, "w", encoding="utf-8") as f:
    json.dump({"schema": "shim-probe", "budget_s": args.budget_s}, f)
