#!/usr/bin/env python3
"""Digest of a gpu-run.sh output folder: adds "digest" to OUT/summary.json (the numbers a GPU
session reports: CUDA-against-CPU error, attention TF/s against SDPA, prefill against PyTorch eager,
calibrated-against-measured TTFT error per strategy) and prints it. Usage: gpu-run-summary.py OUT."""
import json
import os
import sys

out = sys.argv[1]


def load(*parts):
    try:
        with open(os.path.join(out, *parts), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


summary = load("summary.json") or {"schema": "kvr-gpu-run@1", "steps": []}
steps = {s["step"]: s for s in summary.get("steps", [])}


def finished(step, key):
    return [f for f in (steps.get(step) or {}).get("finished", []) if key in f]


digest = {"steps": {name: s.get("status") for name, s in steps.items()}}
facts = next((f["facts"] for f in finished("preflight", "facts")), {})
digest["gpu"] = {k: facts.get(k) for k in ("gpu", "gpus", "memory", "driver", "nvcc", "torch", "nccl")}
devices = load("build", "devices.out") or {}
gpu_list = (devices.get("cuda") or {}).get("devices") or []
digest["gpu"]["sms"] = gpu_list[0].get("sms") if gpu_list else facts.get("sms")
probe = load("probe.json")
digest["probe"] = {"written": probe is not None, "status": (steps.get("probe") or {}).get("status")}

plans = [f for f in finished("correctness", "plan") if "attention" not in f]
errors = [p["logits_max_rel_error"] for p in plans if isinstance(p.get("logits_max_rel_error"), (int, float))]
digest["correctness"] = {"plans": len(plans), "max_logits_rel_error": max(errors) if errors else None,
                         "pass": bool(plans) and all(p.get("pass") for p in plans)}

torch_att = load("attention", "torch-attention.json") or {}
sdpa = {(a.get("chunk"), a.get("prefix"), a.get("causal")): a for a in torch_att.get("attention", []) or []}
shapes = []
for f in finished("attention", "shape"):
    bench = load("attention", f["shape"] + ".out") or {}
    entry = {"shape": f["shape"], "ours_tflops": bench.get("tflops"), "kernel": bench.get("kernel"),
             "max_rel_error": bench.get("max_rel_error")}
    t = sdpa.get((bench.get("chunk"), bench.get("prefix"), bench.get("causal")))
    flash = (t or {}).get("sdpa_flash") or {}
    entry["sdpa_flash_tflops"] = flash.get("tflops")
    if flash.get("median_s") and bench.get("median_s"):
        entry["ours_over_sdpa"] = flash["median_s"] / bench["median_s"]
    shapes.append(entry)
digest["attention"] = shapes

torch_pre = load("prefill", "torch-prefill.json") or {}
torch_ctx = {c.get("context"): c for c in (torch_pre.get("prefill") or {}).get("contexts", []) or []}
prefill = []
for f in finished("prefill", "context"):
    entry = {"context": f["context"], "ours_s": f.get("ttft_s"), "torch_s": (torch_ctx.get(f["context"]) or {}).get("median_s")}
    if entry["ours_s"] and entry["torch_s"]:
        entry["ours_over_torch"] = entry["ours_s"] / entry["torch_s"]
    prefill.append(entry)
digest["prefill"] = prefill

for step in ("calibrate", "slices"):
    reports = finished(step, "by_strategy")
    digest[step + "_validation"] = reports[-1]["by_strategy"] if reports else None

summary["digest"] = digest
with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
    f.write("\n")


def fmt(x, spec):
    return format(x, spec) if isinstance(x, (int, float)) else "-"


g = digest["gpu"]
print(f"GPU: {g.get('gpu')} x{g.get('gpus')} ({g.get('sms')} SMs, {g.get('memory')}), driver {g.get('driver')}, "
      f"nvcc {g.get('nvcc')}, torch {g.get('torch')}")
print("steps: " + ", ".join(f"{k} {v}" for k, v in digest["steps"].items()))
print(f"probe: {'probe.json written' if digest['probe']['written'] else 'no probe.json'}")
c = digest["correctness"]
print(f"CUDA vs CPU logits: max rel error {fmt(c['max_logits_rel_error'], '.2e')} over {c['plans']} plans"
      f" -> {'PASS' if c['pass'] else 'FAIL'}")
for s in shapes:
    print(f"attention {s['shape']:<26} ours {fmt(s['ours_tflops'], '6.1f')} TF/s ({s['kernel']}), "
          f"SDPA flash {fmt(s['sdpa_flash_tflops'], '6.1f')}, ours/SDPA {fmt(s.get('ours_over_sdpa'), '.2f')}")
for p in prefill:
    print(f"prefill {p['context']:>6}: ours {fmt(p['ours_s'], '.4f')} s, torch eager {fmt(p['torch_s'], '.4f')} s, "
          f"ours/torch {fmt(p.get('ours_over_torch'), '.2f')}")
for step in ("calibrate", "slices"):
    for s in digest[step + "_validation"] or []:
        print(f"validation ({step}) {s.get('strategy')}: mean |TTFT error| {fmt(100 * s['mean_abs_error'], '.1f')}%, "
              f"max {fmt(100 * s['max_abs_error'], '.1f')}% over {s.get('cases')} cases")
