#!/usr/bin/env python3
"""kvr torch probe: kernel measurements of one GPU host, written for `kvr calibrate --from FILE`.

    args -> plan (groups of points, each with a priority and an estimated cost)
         -> budget (drop the lowest-priority groups until the estimate fits --budget-s)
         -> measure, section by section (launch, gemm, attention, elementwise, p2p, collectives)
         -> after every section: the whole document, written atomically (temp file + rename),
            so a probe killed at any moment leaves a valid file with what it had measured.

Output schema tag `kvr-measurements/torch-probe@1` (schemas/kvr-measurements.schema.json): a
superset of `kvr-measurements/h200-pytorch-microbench@1` (shared/measurements), so one fitter reads
both. calibration/README.md documents every field.

Timing (every GPU point, as in the shared H200 file): one warm-up call, then the median of
--min-repeats..--max-repeats calls (sized to about --target-ms of GPU time per point), each timed
with CUDA events around one call. Collectives are timed over a batch of back-to-back calls instead
(as nccl-tests does), the slowest rank's time counting.

Needs Python 3.8+ and PyTorch only. PyTorch is imported after the arguments are parsed, so --help,
--dry-run and --synthetic work without it. Everything that can be checked without a GPU (grids,
FLOP and byte counts, budget planning, bandwidth formulas, document assembly) is a pure function
here, tested by test_torch_probe.py (python3 -m unittest, run by test/calibration/torch-probe.test.ts).
"""

import argparse
import json
import math
import os
import socket
import sys
import tempfile
import time

SCHEMA_TAG = "kvr-measurements/torch-probe@1"
PROBE_VERSION = "1.0.0"
SECTIONS = ("launch", "gemm", "attention", "elementwise", "p2p", "collectives")
DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp8": 1}

# Public model configs (DESIGN.md section 7). Only the shapes matter.
MODELS = {
    "llama2-7b": dict(layers=32, hidden=4096, heads=32, kv_heads=32, head_dim=128, ffn=11008, vocab=32000, mlp="swiglu"),
    "llama2-13b": dict(layers=40, hidden=5120, heads=40, kv_heads=40, head_dim=128, ffn=13824, vocab=32000, mlp="swiglu"),
    "llama2-70b": dict(layers=80, hidden=8192, heads=64, kv_heads=8, head_dim=128, ffn=28672, vocab=32000, mlp="swiglu"),
    "llama3-8b": dict(layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128, ffn=14336, vocab=128256, mlp="swiglu"),
    "mistral-7b": dict(layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128, ffn=14336, vocab=32000, mlp="swiglu"),
    "falcon-7b": dict(layers=32, hidden=4544, heads=71, kv_heads=1, head_dim=64, ffn=18176, vocab=65024, mlp="gelu"),
}

# Attention variants: (name, heads, kv_heads, head_dim). mha128 is the shared file's shape.
ATTENTION_VARIANTS = {
    "mha128": (32, 32, 128),
    "gqa128": (32, 8, 128),
    "mha64": (32, 32, 64),
    "mqa64-falcon": (71, 1, 64),
}

ELEMENTWISE_KERNELS = ("rms_norm", "rope_table", "rope", "cat_kv", "transpose_copy", "residual_add", "silu_mul", "gelu")
COLLECTIVE_OPS = ("all_reduce", "all_gather", "reduce_scatter", "sendrecv")


# ---------------------------------------------------------------------------------------------
# Pure arithmetic: FLOPs, bytes, bandwidths, repeats
# ---------------------------------------------------------------------------------------------

def powers_of_two(lo, hi):
    """[lo, 2lo, 4lo, ..., <= hi]; lo and hi powers of two."""
    out, v = [], lo
    while v <= hi:
        out.append(v)
        v *= 2
    return out


def message_sizes(lo=8, hi=1 << 30, factor=4):
    """8 B, 32 B, ..., then hi itself if the progression skips it (nccl-tests style -b 8 -e 1G -f 4)."""
    out, v = [], lo
    while v <= hi:
        out.append(v)
        v *= factor
    if out[-1] != hi:
        out.append(hi)
    return out


def gemm_flops(m, k, n):
    return 2 * m * k * n


def attention_flops(c, prefix, heads, head_dim, mask):
    """Useful FLOPs of SDPA for c queries over prefix + c keys (DESIGN section 2):
    causal (lower right): 4*h*hd*c*(P + (c+1)/2); dense (no mask): 4*h*hd*c*(P + c)."""
    if mask == "causal":
        return 4 * heads * head_dim * (c * prefix + c * (c + 1) / 2)
    if mask == "dense":
        return 4 * heads * head_dim * c * (prefix + c)
    raise ValueError("mask must be causal or dense, got %r" % (mask,))


def tflops(flops, ms):
    return flops / (ms * 1e-3) / 1e12


def gbps(nbytes, ms):
    """GB/s as NCCL prints it: 1e9 bytes per second."""
    return nbytes / (ms * 1e-3) / 1e9


def busbw_factor(op, ranks):
    """Bus-bandwidth correction factor of nccl-tests (NVIDIA/nccl-tests doc/PERFORMANCE.md, "Bus
    bandwidth"): all-reduce 2(n-1)/n; all-gather and reduce-scatter (n-1)/n, where the size S is the
    whole array (n times one rank's share); send/recv 1 (busbw = algbw)."""
    n = ranks
    if op == "all_reduce":
        return 2.0 * (n - 1) / n
    if op in ("all_gather", "reduce_scatter"):
        return (n - 1) / n
    if op == "sendrecv":
        return 1.0
    raise ValueError("unknown collective %r" % (op,))


def busbw_gbps(op, ranks, algbw):
    return algbw * busbw_factor(op, ranks)


def collective_elements(op, nbytes, ranks, elem_bytes):
    """Element count for a message of about nbytes (rounded up so every rank gets a whole share).
    all_gather / reduce_scatter: nbytes is the whole array S (nccl-tests' convention)."""
    count = max(1, -(-nbytes // elem_bytes))
    if op in ("all_gather", "reduce_scatter"):
        count = -(-count // ranks) * ranks
    return count


def repeats_for(first_ms, target_ms, lo=3, hi=50):
    """How many timed calls make about target_ms of GPU time, clamped to [lo, hi]."""
    if first_ms <= 0:
        return hi
    return int(max(lo, min(hi, round(target_ms / first_ms))))


def median(values):
    s = sorted(values)
    if not s:
        raise ValueError("median of nothing")
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def gemm_shapes(model, tp=1):
    """The projection GEMMs of one decoder layer as (op, k, n): activation [m,k] @ weight [k,n].
    Megatron-style tensor parallel shard tp: qkv and gate_up split columns (n / tp; KV heads are
    replicated when fewer than tp), o and down split rows (k / tp). None when the heads or the FFN
    do not divide by tp."""
    d, h, kvh, hd, f = model["hidden"], model["heads"], model["kv_heads"], model["head_dim"], model["ffn"]
    if h % tp or f % tp:
        return None
    kv_shard = max(1, kvh // tp) if kvh % tp == 0 or kvh < tp else None
    if kv_shard is None:
        return None
    up = "gate_up" if model["mlp"] == "swiglu" else "up"
    up_n = (2 * f if model["mlp"] == "swiglu" else f) // tp
    return [
        ("qkv", d, (h // tp + 2 * kv_shard) * hd),
        ("o", h * hd // tp, d),
        (up, d, up_n),
        ("down", f // tp, d),
    ]


def elementwise_bytes(kernel, tokens, model, elem_bytes, prefix=0):
    """Bytes an eager kernel must move at least: every input read once, every output written once.
    Shapes follow the reference eager layer of shared/measurements (per call, one tensor)."""
    d, h, kvh, hd, f = model["hidden"], model["heads"], model["kv_heads"], model["head_dim"], model["ffn"]
    c, b = tokens, elem_bytes
    if kernel == "rms_norm":  # x [c,d] -> [c,d], weight [d]
        return 2 * c * d * b + d * b
    if kernel == "rope_table":  # positions -> cos, sin [c, hd/2] each
        return c * hd * b
    if kernel == "rope":  # q [c,h,hd] (a view) -> rotated [1,h,c,hd], cos/sin read
        return 2 * c * h * hd * b + c * hd * b
    if kernel == "cat_kv":  # cat([K prefix [1,kvh,P,hd], K new [1,kvh,c,hd]]) -> [1,kvh,P+c,hd]
        return 2 * (prefix + c) * kvh * hd * b
    if kernel == "transpose_copy":  # attention out [1,h,c,hd] -> [c, h*hd] contiguous
        return 2 * c * h * hd * b
    if kernel == "residual_add":  # x + y, [c,d]
        return 3 * c * d * b
    if kernel == "silu_mul":  # silu(gu[:, :f]) * gu[:, f:] -> [c,f]
        return 3 * c * f * b
    if kernel == "gelu":  # gelu(u) [c,f]
        return 2 * c * f * b
    raise ValueError("unknown elementwise kernel %r" % (kernel,))


# ---------------------------------------------------------------------------------------------
# Planning: groups of points, cost estimates, the budget
# ---------------------------------------------------------------------------------------------

class DeviceModel(object):
    """What the planner assumes about the GPU to estimate each point's cost (an H100-SXM by
    default; replaced by two quick measurements when a GPU is present)."""

    def __init__(self, tflops_fp16=989.0, tflops_fp8=1979.0, hbm_gbps=3350.0, launch_us=8.0,
                 link_gbps=150.0, link_us=20.0, gemm_eff=0.7, attn_eff=0.5, mem_eff=0.8):
        self.tflops = {"fp16": tflops_fp16, "bf16": tflops_fp16, "fp8": tflops_fp8}
        self.hbm_gbps = hbm_gbps
        self.launch_us = launch_us
        self.link_gbps = link_gbps
        self.link_us = link_us
        self.gemm_eff = gemm_eff
        self.attn_eff = attn_eff
        self.mem_eff = mem_eff

    def as_dict(self):
        return dict(tflops_fp16=self.tflops["fp16"], tflops_fp8=self.tflops["fp8"], hbm_gbps=self.hbm_gbps,
                    launch_us=self.launch_us, link_gbps=self.link_gbps, link_us=self.link_us)

    def mem_ms(self, nbytes):
        return nbytes / (self.hbm_gbps * self.mem_eff * 1e9) * 1e3

    def kernel_ms(self, point):
        """Roofline estimate of one call of the point's kernel, in ms."""
        launch = self.launch_us * 1e-3
        s = point["section"]
        if s == "gemm":
            b = DTYPE_BYTES[point["dtype"]]
            m, k, n = point["m"], point["k"], point["n"]
            flop_ms = gemm_flops(m, k, n) / (self.tflops[point["dtype"]] * self.gemm_eff * 1e12) * 1e3
            return max(flop_ms, self.mem_ms((m * k + k * n + m * n) * b)) + launch
        if s == "attention":
            b = DTYPE_BYTES[point["dtype"]]
            fl = attention_flops(point["c"], point["P"], point["heads"], point["head_dim"], point["mask"])
            flop_ms = fl / (self.tflops[point["dtype"]] * self.attn_eff * 1e12) * 1e3
            kv = 2 * (point["P"] + point["c"]) * point["kv_heads"] * point["head_dim"] * b
            return max(flop_ms, self.mem_ms(kv)) + launch
        if s == "elementwise":
            return self.mem_ms(point["bytes"]) + launch * point.get("launches", 1)
        if s == "p2p":
            return self.link_us * 1e-3 + point["bytes"] / (self.link_gbps * 1e9) * 1e3
        if s == "collectives":
            return self.link_us * 1e-3 + point["bytes"] * 2 / (self.link_gbps * 1e9) * 1e3
        if s == "launch":
            return 0.0
        raise ValueError("unknown section %r" % (s,))

    def point_s(self, point, target_ms, lo, hi):
        """Estimated wall seconds of a point: allocation and random init of its tensors, one
        warm-up call, its timed calls, and Python/event overhead per call."""
        if point["section"] == "launch":
            return 1.5
        t = self.kernel_ms(point)
        host_ms = 0.05
        if point["section"] == "collectives":
            # warm-up, then 3 repeats of a batch sized to target_ms / 3, plus barriers
            return (1.0 + 2 * t + max(target_ms, 3 * t) + 4 * host_ms) * 1e-3
        setup_ms = 1.0 + self.mem_ms(point.get("alloc_bytes", 0)) * 2
        n = repeats_for(t, target_ms, lo, hi)
        return (setup_ms + t + n * (t + host_ms)) * 1e-3


class Group(object):
    """A sweep measured as a unit (one GEMM shape over m, one attention variant over c x P, ...):
    the budget keeps or drops whole groups, so every kept sweep is complete."""

    def __init__(self, section, name, priority, points):
        self.section = section
        self.name = name
        self.priority = priority
        self.points = points
        self.est_s = 0.0

    def describe(self):
        return "%s %s (%d points, ~%.1f s)" % (self.section, self.name, len(self.points), self.est_s)


def grid_options(quick):
    """The sweep axes; --quick keeps a coarse subset of each."""
    if quick:
        return dict(
            m=[64, 256, 1024, 4096, 16384],
            chunks=[256, 1024, 4096, 16384],
            prefixes=[0, 4096, 16384],
            tokens=[256, 1024, 4096, 16384],
            sizes=message_sizes(8, 1 << 30, 16),
            target_ms=10.0,
        )
    return dict(
        m=powers_of_two(64, 16384),
        chunks=powers_of_two(256, 16384),
        prefixes=[0, 1024, 2048, 4096, 8192, 16384, 24576],
        tokens=[64, 256, 1024, 4096, 16384],
        sizes=message_sizes(8, 1 << 30, 4),
        target_ms=60.0,
    )


def plan_groups(models, dtypes, tps, sections, quick=False, max_context=32768, max_bytes=1 << 30,
                ranks=1, fp8=True, gqa=True):
    """Every group the probe would measure, before the budget. Priorities (0 first kept, highest
    dropped first): 0 the shared file's grid again (fp16 GEMMs of the first model, causal mha128
    SDPA), launch, elementwise, all-reduce/all-gather; 1 other models' fp16 GEMMs, dense and GQA
    SDPA, the other collectives, p2p; 2 bf16 GEMMs and SDPA, head dim 64; 3 TP shards and fp8;
    4 TP shards in bf16/fp8, falcon's 71-head MQA."""
    g = grid_options(quick)
    groups = []
    first = models[0]

    if "launch" in sections:
        groups.append(Group("launch", "empty kernel and launch rate", 0, [dict(section="launch")]))

    if "gemm" in sections:
        seen = {}
        for dtype in dtypes:
            if dtype == "fp8" and not fp8:
                continue
            for tp in tps:
                for name in models:
                    shapes = gemm_shapes(MODELS[name], tp)
                    if shapes is None:
                        continue
                    label = name if tp == 1 else "%s/tp%d" % (name, tp)
                    for op, k, n in shapes:
                        key = (dtype, op, k, n)
                        if key in seen:  # same shape already planned (e.g. llama3-8b = mistral-7b)
                            seen[key].append(label)
                            continue
                        if dtype == "fp8" and (k % 16 or n % 16):
                            continue
                        seen[key] = [label]
                        if tp == 1:
                            pr = {"fp16": 0 if name == first else 1, "bf16": 2, "fp8": 3}[dtype]
                        else:
                            pr = 3 if dtype == "fp16" else 4
                        b = DTYPE_BYTES[dtype]
                        pts = [dict(section="gemm", op=op, m=m, k=k, n=n, dtype=dtype, models=seen[key],
                                    alloc_bytes=(m * k + k * n + m * n) * b) for m in g["m"]]
                        groups.append(Group("gemm", "%s %s k=%d n=%d" % (dtype, op, k, n), pr, pts))

    if "attention" in sections:
        variants = [("mha128", "causal", "fp16", 0), ("mha128", "dense", "fp16", 1)]
        if gqa:
            variants.append(("gqa128", "causal", "fp16", 1))
        variants += [("mha128", "causal", "bf16", 2), ("mha64", "causal", "fp16", 2),
                     ("mqa64-falcon", "causal", "fp16", 4)]
        for vname, mask, dtype, pr in variants:
            if dtype not in dtypes:
                continue
            if ATTENTION_VARIANTS[vname][0] != ATTENTION_VARIANTS[vname][1] and not gqa:
                continue  # GQA/MQA shapes need SDPA's enable_gqa (PyTorch 2.5+)
            h, kvh, hd = ATTENTION_VARIANTS[vname]
            b = DTYPE_BYTES[dtype]
            pts = []
            for c in g["chunks"]:
                for P in g["prefixes"]:
                    if c + P > max_context:
                        continue
                    pts.append(dict(section="attention", variant=vname, c=c, P=P, mask=mask, heads=h, kv_heads=kvh,
                                    head_dim=hd, dtype=dtype,
                                    alloc_bytes=(c * h * hd * 2 + 2 * (P + c) * kvh * hd) * b))
            groups.append(Group("attention", "%s %s %s" % (dtype, vname, mask), pr, pts))

    if "elementwise" in sections:
        model = MODELS[first]
        for kernel in ELEMENTWISE_KERNELS:
            pr = 3 if kernel == "gelu" else 0
            pts = []
            for c in g["tokens"]:
                prefixes = [c, 3 * c] if kernel == "cat_kv" else [0]
                for P in prefixes:
                    nbytes = elementwise_bytes(kernel, c, model, 2, P)
                    pts.append(dict(section="elementwise", kernel=kernel, tokens=c, prefix=P, bytes=nbytes,
                                    dtype="fp16", launches=8 if kernel in ("rope", "rope_table") else 2,
                                    alloc_bytes=nbytes))
            groups.append(Group("elementwise", kernel, pr, pts))

    if "p2p" in sections and ranks >= 2:
        pts = [dict(section="p2p", bytes=s, src=0, dst=1) for s in g["sizes"] if s <= max_bytes]
        groups.append(Group("p2p", "copy_ cuda:0 -> cuda:1", 1, pts))

    if "collectives" in sections and ranks >= 2:
        for op in COLLECTIVE_OPS:
            pr = 0 if op in ("all_reduce", "all_gather") else 1
            pts = [dict(section="collectives", op=op, bytes=collective_elements(op, s, ranks, 2) * 2, ranks=ranks)
                   for s in g["sizes"] if s <= max_bytes]
            groups.append(Group("collectives", "%s x%d" % (op, ranks), pr, pts))
    return groups


COLLECTIVES_SETUP_S = 20.0  # one process per GPU importing torch, NCCL communicator setup


def estimate_groups(groups, device, target_ms, lo=3, hi=50):
    first_collective = True
    for grp in groups:
        grp.est_s = sum(device.point_s(p, target_ms, lo, hi) for p in grp.points)
        if grp.section == "collectives" and first_collective:
            grp.est_s += COLLECTIVES_SETUP_S
            first_collective = False
    return groups


def apply_budget(groups, budget_s, reserve_s):
    """Keep groups in order of priority (then plan order) while the estimated total fits
    budget_s - reserve_s; the first group that does not fit and every group after it are dropped
    whole, so nothing kept ranks below anything dropped. Returns (kept in plan order, dropped)."""
    allowed = max(0.0, budget_s - reserve_s)
    order = sorted(range(len(groups)), key=lambda i: (groups[i].priority, i))
    used, keep = 0.0, set()
    for i in order:
        if used + groups[i].est_s > allowed:
            break
        keep.add(i)
        used += groups[i].est_s
    kept = [grp for i, grp in enumerate(groups) if i in keep]
    dropped = [grp for i, grp in enumerate(groups) if i not in keep]
    return kept, dropped


def execution_steps(groups):
    """The order of measuring: (priority, section) pairs, priority first, then SECTIONS order."""
    return [(pr, SECTIONS[si]) for pr, si in sorted({(g.priority, SECTIONS.index(g.section)) for g in groups})]


def reserve_for(budget_s):
    """Seconds held back from the plan for startup (torch import, CUDA init, cuBLAS/flash kernel
    loading), first-call overheads and estimate error."""
    return min(budget_s * 0.5, 15.0 + 0.15 * budget_s)


# ---------------------------------------------------------------------------------------------
# Document assembly (the file format; see calibration/README.md and the JSON Schema)
# ---------------------------------------------------------------------------------------------

WHAT = ("Kernel micro-benchmarks of one GPU host by kvr's torch probe (calibration/probe/torch_probe.py), "
        "PyTorch eager. GEMMs: activation [m,k] @ weight [k,n] (torch.matmul; fp8: torch._scaled_mm, "
        "e4m3 inputs with per-tensor scales, bf16 out) over the projection shapes of the listed models and "
        "their tensor-parallel shards. Attention: torch.nn.functional.scaled_dot_product_attention for c "
        "query tokens over P prefix tokens plus their own c (batch 1), lower-right causal mask "
        "(causal_lower_right(c, P+c)) or no mask (dense); 'tflops' counts useful FLOPs (causal "
        "4*hd*h*(c*P + c*(c+1)/2), dense 4*hd*h*c*(P+c)). Elementwise: the memory-bound ops of the eager "
        "decoder layer in reference_layer, 'bytes' = inputs read once + outputs written once. Collectives: "
        "torch.distributed (NCCL), algbw = bytes/time and busbw as NVIDIA/nccl-tests doc/PERFORMANCE.md "
        "defines them.")

TIMING = ("one warm-up call, then the median of %d..%d calls (about %g ms of GPU time per point), each "
          "timed with CUDA events around one call; collectives: the median of 3 batches of back-to-back "
          "calls (batch about %g ms), time per call of the slowest rank")

REFERENCE_LAYER = [
    "The eager decoder layer whose kernels the elementwise section times (fp16, c tokens, P earlier tokens "
    "whose K,V are given; hidden d, heads h, KV heads h_kv, head dim hd, FFN f of model_shape):",
    "h = F.rms_norm(x, (d,), w1, 1e-5)                        # elementwise rms_norm",
    "qkv = h @ Wqkv                                            # gemm qkv",
    "q, k, v = views of qkv as [1, heads, c, hd]",
    "cos, sin = RoPE tables for positions P..P+c-1             # elementwise rope_table",
    "q, k = rope(q), rope(k): x[...,0::2], x[...,1::2], two mul-sub/mul-add, stack(-1).flatten(-2)  # elementwise rope",
    "if P > 0: k = torch.cat([k_prefix, k], 2); v likewise     # elementwise cat_kv (one tensor)",
    "a = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(c, P + c))  # attention",
    "a = a[0].transpose(0,1).reshape(c, h*hd)                  # elementwise transpose_copy",
    "x = x + a @ Wo                                            # gemm o, elementwise residual_add",
    "h = F.rms_norm(x, (d,), w2, 1e-5); gu = h @ Wgu           # gemm gate_up",
    "x = x + (F.silu(gu[:, :f]) * gu[:, f:]) @ Wd              # elementwise silu_mul, gemm down, residual_add",
    "under torch.no_grad(), one CUDA stream, no CUDA graphs, no torch.compile",
]


def model_shape(name):
    m = MODELS[name]
    return dict(name=name, hidden=m["hidden"], heads=m["heads"], kv_heads=m["kv_heads"], head_dim=m["head_dim"],
                ffn=m["ffn"], vocab=m["vocab"], layers=m["layers"])


def new_document(env, models, budget_s, target_ms, lo, hi, primary_dtype="fp16"):
    """The document before any measurement: every required field present, every list empty."""
    return {
        "schema": SCHEMA_TAG,
        "probe_version": PROBE_VERSION,
        "what": WHAT,
        "gpu": env["gpu"],
        "compute_capability": list(env["compute_capability"]),
        "sm_count": env["sm_count"],
        "memory_bytes": env["memory_bytes"],
        "torch": env["torch"],
        "cuda": env.get("cuda"),
        "dtype": primary_dtype,
        "timing": TIMING % (lo, hi, target_ms, target_ms / 3),
        "model_shape": model_shape(models[0]),
        "models": {name: model_shape(name) for name in models},
        "reference_layer": REFERENCE_LAYER,
        "budget_s": budget_s,
        "elapsed_s": 0.0,
        "complete": False,
        "gemm": [],
        "attention": [],
        "elementwise": [],
        "launch": None,
        "p2p": [],
        "collectives": [],
        "skipped": [],
    }


def finish_document(doc):
    """Drops the optional fields that stayed empty (launch null, cuda unknown)."""
    out = dict(doc)
    for key in ("launch", "cuda"):
        if out.get(key) is None:
            out.pop(key, None)
    return out


def gemm_entry(op, m, k, n, ms, dtype, models=None):
    e = {"op": op, "m": m, "k": k, "n": n, "ms": ms, "tflops": tflops(gemm_flops(m, k, n), ms), "dtype": dtype}
    if models:
        e["models"] = list(models)
    return e


def attention_entry(c, P, ms, mask, heads, kv_heads, head_dim, dtype, impl=None):
    e = {"c": c, "P": P, "ms": ms, "tflops": tflops(attention_flops(c, P, heads, head_dim, mask), ms),
         "mask": mask, "heads": heads, "kv_heads": kv_heads, "head_dim": head_dim, "dtype": dtype}
    if impl:
        e["impl"] = impl
    return e


def elementwise_entry(kernel, tokens, nbytes, ms, dtype="fp16", prefix=None, kernels=None):
    e = {"kernel": kernel, "tokens": tokens, "bytes": nbytes, "ms": ms, "gbps": gbps(nbytes, ms), "dtype": dtype}
    if prefix:
        e["prefix"] = prefix
    if kernels is not None:
        e["kernels"] = kernels
    return e


def p2p_entry(nbytes, ms, src, dst, peer_access=None):
    e = {"bytes": nbytes, "ms": ms, "algbw_gbps": gbps(nbytes, ms), "src": src, "dst": dst}
    if peer_access is not None:
        e["peer_access"] = bool(peer_access)
    return e


def collective_entry(op, ranks, nbytes, ms, dtype="fp16"):
    alg = gbps(nbytes, ms)
    return {"op": op, "ranks": ranks, "bytes": nbytes, "ms": ms, "algbw_gbps": alg,
            "busbw_gbps": busbw_gbps(op, ranks, alg), "dtype": dtype}


def skipped_entry(section, reason):
    return {"section": section, "reason": reason}


def write_json_atomic(path, doc):
    """Writes doc to path via a temp file in the same folder and a rename, so readers (and a probe
    killed mid-write) only ever see a whole file."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(finish_document(doc), f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# Synthetic measurements (no torch): the planner's roofline as a known "GPU"
# ---------------------------------------------------------------------------------------------

SYNTHETIC_ENV = {"gpu": "synthetic roofline GPU", "compute_capability": [9, 0], "sm_count": 132,
                 "memory_bytes": 80 * 10 ** 9, "torch": "none (synthetic)", "cuda": None}


def synthetic_ms(point, device):
    """The roofline time of a point (DeviceModel.kernel_ms), for tests and round trips."""
    return device.kernel_ms(point)


def measure_synthetic(groups, doc, device):
    for grp in groups:
        for p in grp.points:
            record_point(doc, p, synthetic_ms(p, device), ranks=p.get("ranks"))
        if grp.section == "launch":
            doc["launch"] = {"empty_kernel_us": device.launch_us, "cpu_launch_us": device.launch_us,
                             "launches_per_s": 1e6 / device.launch_us}


def record_point(doc, p, ms, impl=None, kernels=None, ranks=None, peer_access=None):
    s = p["section"]
    if s == "gemm":
        doc["gemm"].append(gemm_entry(p["op"], p["m"], p["k"], p["n"], ms, p["dtype"], p.get("models")))
    elif s == "attention":
        doc["attention"].append(attention_entry(p["c"], p["P"], ms, p["mask"], p["heads"], p["kv_heads"],
                                                p["head_dim"], p["dtype"], impl))
    elif s == "elementwise":
        doc["elementwise"].append(elementwise_entry(p["kernel"], p["tokens"], p["bytes"], ms, p["dtype"],
                                                    p.get("prefix"), kernels))
    elif s == "p2p":
        doc["p2p"].append(p2p_entry(p["bytes"], ms, p["src"], p["dst"], peer_access))
    elif s == "collectives":
        doc["collectives"].append(collective_entry(p["op"], ranks or p["ranks"], p["bytes"], ms))
    elif s == "launch":
        pass
    else:
        raise ValueError("unknown section %r" % (s,))


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------

def csv_list(text, allowed=None, what="value"):
    items = [t.strip() for t in text.split(",") if t.strip()]
    if allowed is not None:
        for t in items:
            if t not in allowed:
                raise argparse.ArgumentTypeError("unknown %s %r (allowed: %s)" % (what, t, ", ".join(allowed)))
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of %s" % what)
    return items


def build_parser():
    p = argparse.ArgumentParser(
        prog="torch_probe.py",
        description="Measure GEMMs, SDPA attention, eager elementwise kernels, launch overhead and (2+ GPUs) "
                    "p2p copies and NCCL collectives with PyTorch; write a kvr-measurements/torch-probe@1 "
                    "JSON file for `kvr calibrate --from FILE`. Keeps to --budget-s, dropping the "
                    "lowest-priority sweeps first, and rewrites the file after every section.",
        epilog="Single GPU: python3 calibration/probe/torch_probe.py --out h100.json\n"
               "Collectives: torchrun --nproc_per_node 8 calibration/probe/torch_probe.py --out h100x8.json\n"
               "  (or run it plainly on a host with several visible GPUs: it spawns one process per GPU).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="torch-probe.json", help="output JSON file (default: %(default)s)")
    p.add_argument("--budget-s", type=float, default=300.0,
                   help="wall-clock budget in seconds, startup included (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="coarse grids and ~10 ms per point (a smoke run)")
    p.add_argument("--sections", type=lambda t: csv_list(t, SECTIONS, "section"), default=list(SECTIONS),
                   help="comma-separated subset of: %s (default: all)" % ",".join(SECTIONS))
    p.add_argument("--models", type=lambda t: csv_list(t, list(MODELS), "model"), default=list(MODELS),
                   help="GEMM shapes of these models; the first one also shapes the elementwise kernels "
                        "(default: %s)" % ",".join(MODELS))
    p.add_argument("--dtypes", type=lambda t: csv_list(t, list(DTYPE_BYTES), "dtype"), default=["fp16", "bf16", "fp8"],
                   help="GEMM/attention dtypes; fp8 GEMMs only where torch._scaled_mm and the GPU support "
                        "them (default: fp16,bf16,fp8)")
    p.add_argument("--tp", type=lambda t: [int(x) for x in csv_list(t, None, "shard count")], default=[1, 2, 4, 8],
                   help="tensor-parallel shards of the GEMM shapes to measure (default: 1,2,4,8)")
    p.add_argument("--target-ms", type=float, default=None,
                   help="GPU time per point that sizes the repeats (default: 60; --quick 10)")
    p.add_argument("--min-repeats", type=int, default=3)
    p.add_argument("--max-repeats", type=int, default=50)
    p.add_argument("--max-context", type=int, default=32768, help="largest c + P of the SDPA grid (default: %(default)s)")
    p.add_argument("--max-bytes", type=int, default=1 << 30, help="largest p2p/collective message (default: 1 GiB)")
    p.add_argument("--device", type=int, default=0, help="CUDA device of the single-GPU sections (default: 0)")
    p.add_argument("--nproc", type=int, default=None,
                   help="ranks for p2p/collectives when not under torchrun (default: every visible GPU)")
    p.add_argument("--no-profiler", dest="profiler", action="store_false",
                   help="do not count each elementwise op's CUDA kernels with torch.profiler")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan, its estimates and what the budget drops; measure nothing (no torch needed)")
    p.add_argument("--synthetic", action="store_true",
                   help="write a file in the same format whose times are the planner's roofline (no torch, "
                        "no GPU): for tests and fitter round trips")
    p.add_argument("--assume", default=None,
                   help="planner/synthetic device model as key=value,... (tflops_fp16, tflops_fp8, hbm_gbps, "
                        "launch_us, link_gbps, link_us); default an H100-SXM")
    p.add_argument("--ranks", type=int, default=None, help="with --dry-run/--synthetic: GPUs to plan p2p/collectives for")
    return p


def parse_assume(text):
    dm = DeviceModel()
    if not text:
        return dm
    kw = dm.as_dict()
    for item in csv_list(text, None, "key=value"):
        key, _, value = item.partition("=")
        if key not in kw:
            raise SystemExit("--assume: unknown key %r (allowed: %s)" % (key, ", ".join(kw)))
        kw[key] = float(value)
    return DeviceModel(**kw)


def log(msg):
    sys.stderr.write("[torch_probe %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# GPU measurement (PyTorch imported lazily from here on)
# ---------------------------------------------------------------------------------------------

def import_torch():
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise SystemExit("torch_probe: PyTorch is not installed (%s); --help, --dry-run and --synthetic work "
                         "without it" % e)
    return torch


TORCH_DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp8": "float8_e4m3fn"}


def tdtype(torch, name):
    return getattr(torch, TORCH_DTYPES[name])


class Timer(object):
    """CUDA-event timing per the module docstring."""

    def __init__(self, torch, target_ms, lo, hi):
        self.torch, self.target_ms, self.lo, self.hi = torch, target_ms, lo, hi

    def one(self, fn):
        torch = self.torch
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        return s.elapsed_time(e)

    def median_ms(self, fn):
        torch = self.torch
        fn()  # warm-up
        torch.cuda.synchronize()
        first = self.one(fn)
        n = repeats_for(first, self.target_ms, self.lo, self.hi)
        pairs = []
        for _ in range(n - 1):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            pairs.append((s, e))
        torch.cuda.synchronize()
        return median([first] + [s.elapsed_time(e) for s, e in pairs])


def gpu_env(torch, device):
    props = torch.cuda.get_device_properties(device)
    return {"gpu": props.name, "compute_capability": [props.major, props.minor],
            "sm_count": props.multi_processor_count, "memory_bytes": int(props.total_memory),
            "torch": torch.__version__, "cuda": torch.version.cuda}


def quick_device_model(torch, base):
    """Replaces the planner's peak numbers with two short measurements (a 8192^3 fp16 GEMM, a 512 MiB
    copy), so the budget plan fits this GPU. About a second."""
    timer = Timer(torch, 5.0, 3, 10)
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    ms = timer.median_ms(lambda: torch.matmul(a, b))
    peak = tflops(gemm_flops(8192, 8192, 8192), ms) / base.gemm_eff
    elems = 1 << 28  # 512 MiB of fp16
    x = torch.empty(elems, device="cuda", dtype=torch.float16)
    y = torch.empty_like(x)
    ms = timer.median_ms(lambda: y.copy_(x))
    bw = gbps(2 * elems * 2, ms) / base.mem_eff  # read + write
    del a, b, x, y
    torch.cuda.empty_cache()
    kw = base.as_dict()
    kw.update(tflops_fp16=peak, tflops_fp8=2 * peak, hbm_gbps=bw)
    return DeviceModel(**kw)


SDPA_BACKENDS = {0: "math", 1: "flash", 2: "efficient", 3: "cudnn"}  # torch.nn.attention.SDPBackend values


def sdpa_impl(torch, q, k, v, enable_gqa, causal, prefix):
    """The SDPA backend these inputs run on: flash, efficient, cudnn or math (None if unknown).
    A lower-right causal mask with a prefix goes through CausalBias._dispatch, which tries flash,
    then efficient, then a materialised mask; everything else through torch._fused_sdp_choice."""
    kw = {"enable_gqa": True} if enable_gqa else {}
    try:
        if causal and prefix > 0:
            from torch.backends.cuda import SDPAParams, can_use_flash_attention, can_use_efficient_attention
            try:
                params = SDPAParams(q, k, v, None, 0.0, False, enable_gqa)
            except TypeError:
                params = SDPAParams(q, k, v, None, 0.0, False)
            if can_use_flash_attention(params, False):
                return "flash"
            if can_use_efficient_attention(params, False):
                return "efficient"
            return "math"
        # aten::_fused_sdp_choice(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, *,
        #   scale=None, enable_gqa=False) -> int, the choice SDPA itself makes
        return SDPA_BACKENDS.get(int(torch._fused_sdp_choice(q, k, v, None, 0.0, causal, **kw)))
    except Exception:
        return None


def count_kernels(torch, fn):
    """CUDA kernels one call launches, from torch.profiler (None when the profiler is unavailable)."""
    try:
        from torch.profiler import profile, ProfilerActivity
        from torch.autograd import DeviceType
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
        n = sum(1 for e in prof.events() if e.device_type == DeviceType.CUDA)
        return n or None  # every op here launches something: 0 means the profiler saw no device events
    except Exception:
        return None


def gemm_fn(torch, p, fp8_ok):
    dt = p["dtype"]
    if dt == "fp8":
        if not fp8_ok:
            return None
        a = torch.randn(p["m"], p["k"], device="cuda", dtype=torch.bfloat16).to(torch.float8_e4m3fn)
        w = torch.randn(p["n"], p["k"], device="cuda", dtype=torch.bfloat16).to(torch.float8_e4m3fn).t()  # column-major [k,n]
        one = torch.ones((), device="cuda", dtype=torch.float32)

        def run():
            r = torch._scaled_mm(a, w, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
            return r[0] if isinstance(r, tuple) else r
        return run
    a = torch.randn(p["m"], p["k"], device="cuda", dtype=tdtype(torch, dt))
    w = torch.randn(p["k"], p["n"], device="cuda", dtype=tdtype(torch, dt))
    return lambda: torch.matmul(a, w)


def fp8_supported(torch):
    if not hasattr(torch, "_scaled_mm") or not hasattr(torch, "float8_e4m3fn"):
        return False, "torch has no _scaled_mm/float8_e4m3fn"
    if tuple(torch.cuda.get_device_capability()) < (8, 9):
        return False, "fp8 GEMMs need compute capability 8.9+"
    try:
        gemm_fn(torch, dict(dtype="fp8", m=64, k=64, n=64), True)()
        torch.cuda.synchronize()
        return True, ""
    except Exception as e:
        return False, "torch._scaled_mm failed: %s" % str(e).splitlines()[0][:200]


def attention_fn(torch, p, gqa_kw):
    F = torch.nn.functional
    dt = tdtype(torch, p["dtype"])
    c, P, h, kvh, hd = p["c"], p["P"], p["heads"], p["kv_heads"], p["head_dim"]
    # q as the eager layer has it: a transposed view of [c, h, hd]; K, V contiguous after the cat.
    q = torch.randn(1, c, h, hd, device="cuda", dtype=dt).transpose(1, 2)
    k = torch.randn(1, kvh, P + c, hd, device="cuda", dtype=dt)
    v = torch.randn(1, kvh, P + c, hd, device="cuda", dtype=dt)
    kw = {"enable_gqa": True} if (kvh != h and gqa_kw) else {}
    if p["mask"] == "causal":
        from torch.nn.attention.bias import causal_lower_right
        mask = causal_lower_right(c, P + c)
        fn = lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **kw)  # noqa: E731
    else:
        fn = lambda: F.scaled_dot_product_attention(q, k, v, **kw)  # noqa: E731
    return fn, sdpa_impl(torch, q, k, v, bool(kw), p["mask"] == "causal", P)


def gqa_supported(torch):
    import inspect
    try:
        return "enable_gqa" in inspect.signature(torch.nn.functional.scaled_dot_product_attention).parameters
    except (TypeError, ValueError):
        # a builtin without a signature: try it
        try:
            q = torch.randn(1, 4, 8, 64, device="cuda", dtype=torch.float16)
            kv = torch.randn(1, 2, 8, 64, device="cuda", dtype=torch.float16)
            torch.nn.functional.scaled_dot_product_attention(q, kv, kv, enable_gqa=True)
            return True
        except Exception:
            return False


def elementwise_fn(torch, p, model):
    """One eager kernel of the reference layer (REFERENCE_LAYER), at c = p['tokens']."""
    F = torch.nn.functional
    dt = torch.float16
    c, P = p["tokens"], p.get("prefix", 0)
    d, h, kvh, hd, f = model["hidden"], model["heads"], model["kv_heads"], model["head_dim"], model["ffn"]
    dev = "cuda"
    kernel = p["kernel"]
    if kernel == "rms_norm":
        x = torch.randn(c, d, device=dev, dtype=dt)
        w = torch.randn(d, device=dev, dtype=dt)
        if hasattr(F, "rms_norm"):
            return lambda: F.rms_norm(x, (d,), w, 1e-5)

        def manual():
            xf = x.float()
            return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(dt) * w
        return manual
    if kernel in ("rope_table", "rope"):
        def table():
            inv_freq = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, device=dev, dtype=torch.float32) / hd))
            pos = torch.arange(P, P + c, device=dev, dtype=torch.float32)
            freqs = torch.outer(pos, inv_freq)
            return freqs.cos().to(dt), freqs.sin().to(dt)
        if kernel == "rope_table":
            return table
        cos, sin = table()
        qkv = torch.randn(c, 3, h, hd, device=dev, dtype=dt)
        xq = qkv[:, 0].transpose(0, 1)[None]  # [1, h, c, hd], a view

        def rope():
            x0, x1 = xq[..., 0::2], xq[..., 1::2]
            return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).flatten(-2)
        return rope
    if kernel == "cat_kv":
        kp = torch.randn(1, kvh, P, hd, device=dev, dtype=dt)
        kn = torch.randn(c, kvh, hd, device=dev, dtype=dt).transpose(0, 1)[None]
        return lambda: torch.cat([kp, kn], 2)
    if kernel == "transpose_copy":
        a = torch.randn(1, h, c, hd, device=dev, dtype=dt)
        return lambda: a[0].transpose(0, 1).reshape(c, h * hd)
    if kernel == "residual_add":
        x = torch.randn(c, d, device=dev, dtype=dt)
        y = torch.randn(c, d, device=dev, dtype=dt)
        return lambda: x + y
    if kernel == "silu_mul":
        gu = torch.randn(c, 2 * f, device=dev, dtype=dt)
        return lambda: F.silu(gu[:, :f]) * gu[:, f:]
    if kernel == "gelu":
        u = torch.randn(c, f, device=dev, dtype=dt)
        return lambda: F.gelu(u)
    raise ValueError(kernel)


def measure_launch(torch, n=2000):
    """empty_kernel_us: GPU time per tiny kernel (a 1-element add_) when launches are queued behind a
    busy GPU, so the GPU runs them back to back; cpu_launch_us: host time to launch one (Python,
    dispatcher, cudaLaunchKernel), launches_per_s its inverse; event_overhead_us: two back-to-back
    events; sync_us: torch.cuda.synchronize() on an idle GPU."""
    t = torch.zeros(1, device="cuda")
    for _ in range(100):
        t.add_(1)
    torch.cuda.synchronize()
    # host side: launches per second
    t0 = time.perf_counter()
    for _ in range(n):
        t.add_(1)
    cpu_us = (time.perf_counter() - t0) / n * 1e6
    torch.cuda.synchronize()
    # GPU side: hold the stream busy, queue n launches, time them between events
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    busy_ms = max(5.0, 2.0 * n * cpu_us * 1e-3)
    spin = getattr(torch.cuda, "_sleep", None)
    samples = []
    for _ in range(3):
        if spin is not None:
            spin(int(busy_ms * 1e-3 * 2e9))  # ~cycles at 2 GHz; only needs to outlast the launches
        s.record()
        for _ in range(n):
            t.add_(1)
        e.record()
        e.synchronize()
        samples.append(s.elapsed_time(e) * 1e3 / n)
    ev = []
    for _ in range(20):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        b.record()
        b.synchronize()
        ev.append(a.elapsed_time(b) * 1e3)
    sync = []
    for _ in range(20):
        t0 = time.perf_counter()
        torch.cuda.synchronize()
        sync.append((time.perf_counter() - t0) * 1e6)
    return {"empty_kernel_us": median(samples), "cpu_launch_us": cpu_us, "launches_per_s": 1e6 / cpu_us,
            "event_overhead_us": median(ev), "sync_us": median(sync),
            "queued_behind_busy_kernel": spin is not None}


def measure_p2p(torch, p, timer):
    src = torch.empty(p["bytes"], device="cuda:%d" % p["src"], dtype=torch.uint8)
    dst = torch.empty(p["bytes"], device="cuda:%d" % p["dst"], dtype=torch.uint8)
    # PyTorch runs a cross-device copy_ on the source device's current stream (synchronised with the
    # destination's), so events on the source device bracket it.
    with torch.cuda.device(p["src"]):
        ms = timer.median_ms(lambda: dst.copy_(src))
    return ms


# ---------------------------------------------------------------------------------------------
# Collectives (torch.distributed, NCCL): one process per GPU
# ---------------------------------------------------------------------------------------------

def run_collectives(torch, rank, world, points, deadline, target_ms):
    """Runs every point on every rank in the same order (collectives must match), returns entries on
    rank 0. Rank 0 decides whether the next point still fits the deadline and broadcasts it."""
    import torch.distributed as dist
    dev = torch.device("cuda", torch.cuda.current_device())
    flag = torch.zeros(1, device=dev, dtype=torch.int32)
    out, skipped = [], []
    for p in points:
        if rank == 0:
            flag.fill_(1 if time.time() < deadline else 0)
        dist.broadcast(flag, 0)
        if int(flag.item()) == 0:
            skipped.append(skipped_entry("collectives", "budget: stopped before %s %d B (and after)" % (p["op"], p["bytes"])))
            break
        op, elem = p["op"], 2  # fp16 elements; p["bytes"] is already a whole number of them per rank
        count = collective_elements(op, p["bytes"], world, elem)
        nbytes = count * elem
        if op == "all_reduce":
            x = torch.ones(count, device=dev, dtype=torch.float16)
            call = lambda: dist.all_reduce(x)  # noqa: E731
        elif op == "all_gather":
            x = torch.ones(count // world, device=dev, dtype=torch.float16)
            y = torch.empty(count, device=dev, dtype=torch.float16)
            call = lambda: dist.all_gather_into_tensor(y, x)  # noqa: E731
        elif op == "reduce_scatter":
            x = torch.ones(count, device=dev, dtype=torch.float16)
            y = torch.empty(count // world, device=dev, dtype=torch.float16)
            call = lambda: dist.reduce_scatter_tensor(y, x)  # noqa: E731
        else:  # sendrecv: every rank sends to rank+1 and receives from rank-1 at once (nccl-tests sendrecv)
            x = torch.ones(count, device=dev, dtype=torch.float16)
            y = torch.empty(count, device=dev, dtype=torch.float16)
            nxt, prv = (rank + 1) % world, (rank - 1) % world

            def call():
                reqs = dist.batch_isend_irecv([dist.P2POp(dist.isend, x, nxt), dist.P2POp(dist.irecv, y, prv)])
                for r in reqs:
                    r.wait()
        # warm-up, and the slowest rank's warm-up time sizes the batch identically on every rank
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        dist.barrier()
        call()
        s.record()
        call()
        e.record()
        e.synchronize()
        t = torch.tensor([s.elapsed_time(e)], device=dev)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        iters = int(max(1, min(1000, round((target_ms / 3) / max(float(t.item()), 1e-3)))))
        per = []
        for _ in range(3):
            dist.barrier()
            s.record()
            for _ in range(iters):
                call()
            e.record()
            e.synchronize()
            per.append(s.elapsed_time(e) / iters)
        t = torch.tensor([median(per)], device=dev)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if rank == 0:
            out.append(collective_entry(op, world, nbytes, float(t.item())))
        del x
    return out, skipped


def _spawned_worker(rank, world, port, points, deadline, target_ms, result_path):
    import torch
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.cuda.set_device(rank)
    if _accepts_device_id(dist):
        dist.init_process_group("nccl", rank=rank, world_size=world, device_id=torch.device("cuda", rank))
    else:
        dist.init_process_group("nccl", rank=rank, world_size=world)
    try:
        out, skipped = run_collectives(torch, rank, world, points, deadline, target_ms)
        if rank == 0:
            with open(result_path, "w") as f:
                json.dump({"collectives": out, "skipped": skipped}, f)
    finally:
        dist.destroy_process_group()


def _accepts_device_id(dist):
    import inspect
    try:
        return "device_id" in inspect.signature(dist.init_process_group).parameters
    except (TypeError, ValueError):
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_collectives(torch, world, points, deadline, target_ms):
    import torch.multiprocessing as mp
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        mp.spawn(_spawned_worker, args=(world, free_port(), points, deadline, target_ms, path), nprocs=world, join=True)
        with open(path) as f:
            r = json.load(f)
        return r["collectives"], r["skipped"]
    finally:
        os.unlink(path)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def print_plan(kept, dropped, budget_s, reserve_s, out=sys.stdout):
    total = sum(g.est_s for g in kept)
    out.write("plan: %d groups kept (%d points, ~%.1f s estimated; budget %.0f s, %.0f s held back)\n"
              % (len(kept), sum(len(g.points) for g in kept), total, budget_s, reserve_s))
    for g in kept:
        out.write("  keep p%d %s\n" % (g.priority, g.describe()))
    for g in dropped:
        out.write("  drop p%d %s\n" % (g.priority, g.describe()))


def dropped_entries(dropped):
    return [skipped_entry(g.section, "over budget: %s" % g.describe()) for g in dropped]


def make_plan(args, device, ranks, fp8=True, gqa=True, sections=None):
    target = args.target_ms if args.target_ms is not None else grid_options(args.quick)["target_ms"]
    groups = plan_groups(args.models, args.dtypes, args.tp, sections or args.sections, args.quick, args.max_context,
                         args.max_bytes, ranks, fp8, gqa)
    estimate_groups(groups, device, target, args.min_repeats, args.max_repeats)
    reserve = reserve_for(args.budget_s)
    kept, dropped = apply_budget(groups, args.budget_s, reserve)
    return target, kept, dropped, reserve


def main(argv=None):
    t_start = time.time()
    args = build_parser().parse_args(argv)
    if args.min_repeats < 1 or args.max_repeats < args.min_repeats:
        raise SystemExit("torch_probe: need 1 <= --min-repeats <= --max-repeats")
    device = parse_assume(args.assume)
    primary = args.dtypes[0] if args.dtypes[0] != "fp8" else "fp16"

    if args.dry_run or args.synthetic:
        ranks = args.ranks or 1
        target, kept, dropped, reserve = make_plan(args, device, ranks)
        if args.dry_run:
            print_plan(kept, dropped, args.budget_s, reserve)
            return 0
        doc = new_document(SYNTHETIC_ENV, args.models, args.budget_s, target, args.min_repeats, args.max_repeats, primary)
        doc["synthetic"] = device.as_dict()
        doc["skipped"] = dropped_entries(dropped)
        if ranks < 2:
            doc["skipped"] += [skipped_entry(s, "1 GPU") for s in ("p2p", "collectives") if s in args.sections]
        measure_synthetic(kept, doc, device)
        doc["complete"] = True
        doc["elapsed_s"] = round(time.time() - t_start, 3)
        write_json_atomic(args.out, doc)
        return 0

    torch = import_torch()
    if not torch.cuda.is_available():
        raise SystemExit("torch_probe: no CUDA device visible to PyTorch %s" % torch.__version__)

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    under_torchrun = world > 1
    deadline = t_start + args.budget_s - 5.0

    if under_torchrun:
        # Every rank runs the collectives first (the plan uses the assumed device model, so it is the
        # same on every rank); then rank 0 alone goes on with the single-GPU sections.
        import torch.distributed as dist
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        target, kept, dropped, reserve = make_plan(args, device, world)
        coll_points = [p for g in kept if g.section == "collectives" for p in g.points]
        coll, coll_skipped = run_collectives(torch, rank, world, coll_points, deadline, target)
        dist.destroy_process_group()
        if rank != 0:
            return 0
        args.device = local
    else:
        coll, coll_skipped = None, []

    torch.cuda.set_device(args.device)
    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = True
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = True
    env = gpu_env(torch, args.device)
    ngpu = torch.cuda.device_count()
    ranks = world if under_torchrun else (args.nproc or ngpu)
    log("%s (cc %d.%d, %d SMs), torch %s, %d GPU(s) visible; budget %.0f s"
        % (env["gpu"], env["compute_capability"][0], env["compute_capability"][1], env["sm_count"], torch.__version__, ngpu, args.budget_s))

    fp8_ok, fp8_why = (fp8_supported(torch) if "fp8" in args.dtypes and "gemm" in args.sections else (False, ""))
    gqa_ok = gqa_supported(torch)
    try:
        device = quick_device_model(torch, device)
    except Exception as e:  # keep the assumed model
        log("quick device model failed (%s); planning with the assumed H100 numbers" % e)
    # under torchrun the collectives are done: plan the rest
    sections = [s for s in args.sections if not (under_torchrun and s == "collectives")]
    target, kept, dropped, reserve = make_plan(args, device, ranks, fp8_ok, gqa_ok, sections)
    print_plan(kept, dropped, args.budget_s, reserve, sys.stderr)

    doc = new_document(env, args.models, args.budget_s, target, args.min_repeats, args.max_repeats, primary)
    doc["skipped"] = dropped_entries(dropped)
    if "fp8" in args.dtypes and "gemm" in args.sections and not fp8_ok:
        doc["skipped"].append(skipped_entry("gemm", "fp8: " + fp8_why))
    if not gqa_ok and "attention" in args.sections:
        doc["skipped"].append(skipped_entry("attention", "gqa128, mqa64-falcon: this torch's SDPA has no enable_gqa"))
    for s in ("p2p", "collectives"):
        if s in args.sections and ranks < 2:
            doc["skipped"].append(skipped_entry(s, "%d GPU visible; needs 2+ (torchrun --nproc_per_node N, or a host "
                                                   "with several GPUs)" % ngpu))
    if under_torchrun:
        doc["collectives"] = coll
        doc["skipped"] += coll_skipped

    def save():
        doc["elapsed_s"] = round(time.time() - t_start, 3)
        write_json_atomic(args.out, doc)

    save()
    timer = Timer(torch, target, args.min_repeats, args.max_repeats)
    model = MODELS[args.models[0]]
    pace = Pace()
    # Priority tiers first, then sections in order, so a run whose estimates were too low loses its
    # lowest priorities, whatever section they are in. The file is rewritten after each step.
    collectives_done = under_torchrun
    for priority, section in execution_steps(kept):
        groups = [g for g in kept if g.section == section and g.priority == priority]
        if section == "collectives":
            if collectives_done:
                continue
            collectives_done = True
            groups = [g for g in kept if g.section == section]  # one spawn for all of them
        log("section %s, priority %d: %d groups" % (section, priority, len(groups)))
        if section == "collectives":
            points = [p for g in groups for p in g.points]
            if time.time() + pace.expected_s(sum(g.est_s for g in groups)) > deadline:
                doc["skipped"].append(skipped_entry(section, "budget: %.0f s elapsed" % (time.time() - t_start)))
            else:
                torch.cuda.empty_cache()
                try:
                    out, sk = spawn_collectives(torch, ranks, points, deadline, target)
                    doc["collectives"] += out
                    doc["skipped"] += sk
                except Exception as e:
                    doc["skipped"].append(skipped_entry(section, "failed: %s" % str(e).splitlines()[0][:300]))
            save()
            continue
        for g in groups:
            if time.time() + pace.expected_s(g.est_s) > deadline:
                doc["skipped"].append(skipped_entry(section, "budget: %.0f s elapsed before %s"
                                                    % (time.time() - t_start, g.describe())))
                continue
            t0 = time.time()
            try:
                measure_group(torch, g, doc, timer, model, fp8_ok, gqa_ok, deadline)
                pace.add(g.est_s, time.time() - t0)
            except Exception as e:  # one failing sweep (out of memory, unsupported kernel) must not lose the file
                doc["skipped"].append(skipped_entry(section, "%s failed: %s" % (g.name, str(e).splitlines()[0][:300])))
                torch.cuda.empty_cache()
        save()
    if args.profiler and doc["elementwise"] and time.time() < deadline:
        try:
            add_kernel_counts(torch, doc, model)
        except Exception as e:
            log("counting kernels failed: %s" % e)
    doc["complete"] = True
    save()
    log("wrote %s in %.1f s" % (args.out, time.time() - t_start))
    return 0


class Pace(object):
    """Measured / estimated time of the groups done so far (at least 1): scales the estimate of the
    next group when checking it against the deadline."""

    def __init__(self):
        self.est, self.real = 0.0, 0.0

    def add(self, est_s, real_s):
        self.est += est_s
        self.real += real_s

    def ratio(self):
        return max(1.0, self.real / self.est) if self.est > 0 else 1.0

    def expected_s(self, est_s):
        return est_s * self.ratio()


def add_kernel_counts(torch, doc, model):
    """Sets `kernels` on every elementwise entry: the CUDA kernels one call launches, counted once
    per op with torch.profiler. Run last, after every timing, so the profiler (CUPTI) cannot touch
    any measured launch."""
    counts = {}
    with torch.no_grad():
        for e in doc["elementwise"]:
            if e["kernel"] not in counts:
                p = dict(kernel=e["kernel"], tokens=e["tokens"], prefix=e.get("prefix", 0))
                counts[e["kernel"]] = count_kernels(torch, elementwise_fn(torch, p, model))
            if counts[e["kernel"]] is not None:
                e["kernels"] = counts[e["kernel"]]


def measure_group(torch, g, doc, timer, model, fp8_ok, gqa_ok, deadline):
    if g.section == "launch":
        doc["launch"] = measure_launch(torch)
        return
    with torch.no_grad():
        for p in g.points:
            if time.time() > deadline:
                doc["skipped"].append(skipped_entry(g.section, "budget: deadline reached inside %s" % g.name))
                return
            impl = peer = None
            if g.section == "gemm":
                fn = gemm_fn(torch, p, fp8_ok)
                if fn is None:
                    return
            elif g.section == "attention":
                fn, impl = attention_fn(torch, p, gqa_ok)
            elif g.section == "elementwise":
                fn = elementwise_fn(torch, p, model)
            elif g.section == "p2p":
                peer = torch.cuda.can_device_access_peer(p["src"], p["dst"])
                ms = measure_p2p(torch, p, timer)
                record_point(doc, p, ms, peer_access=peer)
                continue
            else:
                raise ValueError(g.section)
            ms = timer.median_ms(fn)
            record_point(doc, p, ms, impl=impl)
            del fn


if __name__ == "__main__":
    sys.exit(main())
