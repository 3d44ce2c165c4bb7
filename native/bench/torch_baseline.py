#!/usr/bin/env python3
"""PyTorch baselines for native/scripts/gpu-run.sh (no downloads, random weights).

1. Attention: torch.nn.functional.scaled_dot_product_attention on the shapes kvr-exec
   bench-attention times (a chunk of c queries at positions [P, P + c) over keys [0, P + c),
   causal), timed with CUDA events (median of repeats):
     sdpa_flash    the flash backend; a chunk over a prefix uses the lower-right aligned causal
                   bias (torch.nn.attention.bias.causal_lower_right), a chunk without prefix
                   is_causal=True
     sdpa_default  the same call with PyTorch's default backend choice
     sdpa_mask     an explicit boolean [c, P + c] mask (what a dense-masked kernel computes)
   TFLOP/s use kvr's FLOP formula: causal 4 h hd c (P + (c + 1) / 2), dense 4 h hd c (P + c).
2. Prefill: an eager llama2-7b forward pass (RMSNorm, rotary, SDPA is_causal, SwiGLU, fused QKV
   and gate/up projections, random fp16 weights), batch 1, to the last token's logits, per
   context; warm-up then timed repeats, median. A context that runs out of memory is recorded
   and skipped.

Writes one JSON file (--out), rewritten after every measurement so a timeout keeps what was done.
"""

import argparse
import gc
import json
import math
import statistics
import sys
import time
import traceback

try:
    import torch
    import torch.nn.functional as F
except Exception as error:  # noqa: BLE001 - report any import failure in the JSON
    torch = None
    TORCH_IMPORT_ERROR = f"{type(error).__name__}: {error}"
else:
    TORCH_IMPORT_ERROR = None


ATTENTION_SHAPES = [
    # name, chunk, prefix, causal (False: dense-masked over all prefix + chunk keys)
    ("chunk4096-prefix8192-causal", 4096, 8192, True),
    ("chunk2048-prefix0-causal", 2048, 0, True),
    ("chunk1024-prefix15360-causal", 1024, 15360, True),
    ("chunk4096-prefix8192-dense", 4096, 8192, False),
]

LLAMA2_7B = dict(layers=32, hidden=4096, heads=32, kv_heads=32, head_dim=128, ffn=11008, vocab=32000)


def attention_flops(heads, head_dim, chunk, prefix, causal):
    if causal:
        return 4.0 * heads * head_dim * chunk * (prefix + (chunk + 1) / 2.0)
    return 4.0 * heads * head_dim * chunk * (prefix + chunk)


def is_oom(error):
    if torch is not None and isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return "out of memory" in str(error).lower()


def short_error(error):
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 400 else text[:400] + "..."


def free_memory():
    gc.collect()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def time_gpu(fn, warmup, repeats):
    """Median and all times in seconds of fn() measured with CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times), times


# --- attention ---------------------------------------------------------------------------------


def bench_attention(args, report, write):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    try:
        from torch.nn.attention.bias import causal_lower_right
    except ImportError:
        causal_lower_right = None

    device = torch.device(args.device)
    dtype = torch.float16
    h, hkv, hd = args.heads, args.kv_heads, args.head_dim
    gqa = {"enable_gqa": True} if h != hkv else {}
    results = []
    report["attention"] = results
    for name, chunk, prefix, causal in ATTENTION_SHAPES:
        keys = prefix + chunk
        flops = attention_flops(h, hd, chunk, prefix, causal)
        entry = {"name": name, "heads": h, "kv_heads": hkv, "head_dim": hd, "chunk": chunk, "prefix": prefix,
                 "causal": causal, "flops": flops}
        results.append(entry)
        try:
            torch.manual_seed(args.seed)
            # [batch, heads, tokens, head_dim] views of [batch, tokens, heads, head_dim] storage, as in a model.
            q = torch.randn(1, chunk, h, hd, device=device, dtype=dtype).transpose(1, 2)
            k = torch.randn(1, keys, hkv, hd, device=device, dtype=dtype).transpose(1, 2)
            v = torch.randn(1, keys, hkv, hd, device=device, dtype=dtype).transpose(1, 2)
        except Exception as error:  # noqa: BLE001
            entry["error"] = short_error(error)
            free_memory()
            write()
            continue

        def causal_call(q=q, k=k, v=v, prefix=prefix, chunk=chunk, keys=keys):
            if prefix == 0:
                return F.scaled_dot_product_attention(q, k, v, is_causal=True, **gqa)
            if causal_lower_right is None:
                raise RuntimeError("torch.nn.attention.bias.causal_lower_right is unavailable")
            return F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(chunk, keys), **gqa)

        def flash_call():
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                return causal_call()

        def mask_call(q=q, k=k, v=v, prefix=prefix, chunk=chunk, keys=keys, holder={}):
            if "mask" not in holder:  # True: attend; built once, outside the timed calls
                rows = prefix + torch.arange(chunk, device=q.device)
                holder["mask"] = torch.arange(keys, device=q.device)[None, :] <= rows[:, None]
            return F.scaled_dot_product_attention(q, k, v, attn_mask=holder["mask"], **gqa)

        outputs = {}
        for label, fn in (("sdpa_flash", flash_call), ("sdpa_default", causal_call), ("sdpa_mask", mask_call)):
            try:
                out = fn()  # also builds the mask before timing
                outputs[label] = out[:, :, :: max(1, chunk // 64)].float()  # a sample of rows
                del out
                median_s, times = time_gpu(fn, args.attn_warmup, args.attn_repeats)
                entry[label] = {"median_s": median_s, "times_s": times, "tflops": flops / median_s / 1e12}
            except Exception as error:  # noqa: BLE001
                entry[label] = {"error": short_error(error)}
                if is_oom(error):
                    free_memory()
        if "sdpa_flash" in outputs and "sdpa_mask" in outputs:
            diff = (outputs["sdpa_flash"] - outputs["sdpa_mask"]).abs().max().item()
            scale = outputs["sdpa_mask"].abs().max().item()
            entry["sdpa_flash_vs_mask_max_rel_diff"] = diff / scale if scale > 0 else diff
        del q, k, v, outputs, causal_call, flash_call, mask_call
        free_memory()
        write()


def _with_backend(sdpa_kernel, backend, fn):
    with sdpa_kernel(backend):
        return fn()


# --- llama2-7b eager prefill -----------------------------------------------------------------


class EagerLlama:
    """llama2-style decoder with random fp16 weights; forward returns the last token's logits."""

    def __init__(self, cfg, device, seed):
        self.cfg = cfg
        d, f, v = cfg["hidden"], cfg["ffn"], cfg["vocab"]
        qkv_cols = (cfg["heads"] + 2 * cfg["kv_heads"]) * cfg["head_dim"]
        attn_cols = cfg["heads"] * cfg["head_dim"]
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)

        def uniform(shape, scale):
            return torch.empty(shape, device=device, dtype=torch.float16).uniform_(-scale, scale, generator=generator)

        def norm_scale():
            return 1.0 + uniform((d,), 0.1)

        self.embedding = uniform((v, d), 1.0)
        self.final_norm = norm_scale()
        self.lm_head = uniform((v, d), 1.0 / math.sqrt(d))
        self.layers = []
        for _ in range(cfg["layers"]):
            self.layers.append({
                "attn_norm": norm_scale(),
                "wqkv": uniform((d, qkv_cols), 1.0 / math.sqrt(d)),
                "wo": uniform((attn_cols, d), 1.0 / math.sqrt(attn_cols)),
                "mlp_norm": norm_scale(),
                "w_gate_up": uniform((d, 2 * f), 1.0 / math.sqrt(d)),
                "w_down": uniform((f, d), 1.0 / math.sqrt(f)),
            })

    @staticmethod
    def rms_norm(x, weight, eps=1e-5):
        # As Hugging Face's LlamaRMSNorm: statistics in fp32, scale in the model dtype.
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
        return weight * xf.to(x.dtype)

    @staticmethod
    def rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def rope(self, positions, dtype):
        hd = self.cfg["head_dim"]
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, device=positions.device, dtype=torch.float32) / hd))
        freqs = positions.float()[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype)[None, None], emb.sin().to(dtype)[None, None]  # [1, 1, C, hd]

    def forward(self, tokens):
        cfg = self.cfg
        b, c = tokens.shape
        h, hkv, hd, f = cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["ffn"]
        x = self.embedding[tokens]  # [b, c, d]
        cos, sin = self.rope(torch.arange(c, device=tokens.device), x.dtype)
        gqa = {"enable_gqa": True} if h != hkv else {}
        for layer in self.layers:
            y = self.rms_norm(x, layer["attn_norm"])
            qkv = y @ layer["wqkv"]
            q, k, v = qkv.split([h * hd, hkv * hd, hkv * hd], dim=-1)
            q = q.view(b, c, h, hd).transpose(1, 2)
            k = k.view(b, c, hkv, hd).transpose(1, 2)
            v = v.view(b, c, hkv, hd).transpose(1, 2)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, **gqa)
            a = a.transpose(1, 2).reshape(b, c, h * hd)
            x = x + a @ layer["wo"]
            y = self.rms_norm(x, layer["mlp_norm"])
            gate, up = (y @ layer["w_gate_up"]).split([f, f], dim=-1)
            x = x + (F.silu(gate) * up) @ layer["w_down"]
        last = self.rms_norm(x[:, -1:], self.final_norm)
        return last @ self.lm_head.t()  # [b, 1, V]


def bench_prefill(args, report, write):
    device = torch.device(args.device)
    cfg = dict(LLAMA2_7B)
    cfg["layers"] = args.layers
    results = []
    report["prefill"] = {"model": "llama2-7b", "config": cfg, "warmup": args.warmup, "repeats": args.repeats,
                         "contexts": results}
    try:
        started = time.time()
        model = EagerLlama(cfg, device, args.seed)
        torch.cuda.synchronize()
        report["prefill"]["weights_init_s"] = time.time() - started
    except Exception as error:  # noqa: BLE001
        report["prefill"]["error"] = short_error(error)
        write()
        return
    write()
    generator = torch.Generator(device=device)
    generator.manual_seed(args.seed)
    for context in args.contexts:
        entry = {"context": context}
        results.append(entry)
        try:
            tokens = torch.randint(0, cfg["vocab"], (1, context), device=device, generator=generator)
            with torch.inference_mode():
                median_s, times = time_gpu(lambda: model.forward(tokens), args.warmup, args.repeats)
            entry.update({"median_s": median_s, "times_s": times})
            entry["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device)
        except Exception as error:  # noqa: BLE001
            entry["error"] = short_error(error)
            entry["oom"] = is_oom(error)
            if not entry["oom"]:
                traceback.print_exc(file=sys.stderr)
        free_memory()
        torch.cuda.reset_peak_memory_stats(device)
        print(f"torch_baseline: prefill {context}: "
              f"{entry.get('median_s', entry.get('error'))}", file=sys.stderr, flush=True)
        write()


# --- main ----------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heads", type=int, default=32, help="attention shapes: query heads")
    parser.add_argument("--kv-heads", type=int, default=32, help="attention shapes: KV heads")
    parser.add_argument("--head-dim", type=int, default=128, help="attention shapes: head dim")
    parser.add_argument("--attn-warmup", type=int, default=3)
    parser.add_argument("--attn-repeats", type=int, default=10)
    parser.add_argument("--contexts", default="1024,2048,4096,8192,16384,32768",
                        help="prefill contexts, comma-separated")
    parser.add_argument("--layers", type=int, default=LLAMA2_7B["layers"], help="prefill layers (32 for llama2-7b)")
    parser.add_argument("--warmup", type=int, default=1, help="prefill warm-up runs")
    parser.add_argument("--repeats", type=int, default=3, help="prefill timed runs")
    parser.add_argument("--skip-attention", action="store_true")
    parser.add_argument("--skip-prefill", action="store_true")
    args = parser.parse_args(argv)
    try:
        args.contexts = [int(c) for c in args.contexts.split(",") if c.strip()]
    except ValueError:
        parser.error("--contexts: expected comma-separated integers")
    if args.repeats < 1 or args.attn_repeats < 1 or args.warmup < 0 or args.attn_warmup < 0:
        parser.error("repeats must be >= 1 and warm-ups >= 0")

    report = {"schema": "kvr-torch-baseline@1", "argv": sys.argv[1:] if argv is None else list(argv)}

    def write():
        with open(args.out, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1)
            out.write("\n")

    if torch is None:
        report["error"] = f"cannot import torch: {TORCH_IMPORT_ERROR}"
        write()
        print(f"torch_baseline: {report['error']}", file=sys.stderr)
        return 1
    report["torch_version"] = torch.__version__
    report["torch_cuda"] = torch.version.cuda
    if not torch.cuda.is_available() or not args.device.startswith("cuda"):
        report["error"] = "CUDA is not available to torch"
        write()
        print(f"torch_baseline: {report['error']}", file=sys.stderr)
        return 1
    torch.cuda.set_device(torch.device(args.device))
    props = torch.cuda.get_device_properties(torch.device(args.device))
    report["device"] = {"name": props.name, "memory_bytes": props.total_memory, "sms": props.multi_processor_count,
                        "compute_capability": f"{props.major}.{props.minor}"}
    report["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    write()

    status = 0
    if not args.skip_attention:
        try:
            bench_attention(args, report, write)
        except Exception as error:  # noqa: BLE001
            report["attention_error"] = short_error(error)
            traceback.print_exc(file=sys.stderr)
            status = 1
        free_memory()
        write()
    if not args.skip_prefill:
        try:
            bench_prefill(args, report, write)
        except Exception as error:  # noqa: BLE001
            report.setdefault("prefill", {})["error"] = short_error(error)
            traceback.print_exc(file=sys.stderr)
            status = 1
        write()
    return status


if __name__ == "__main__":
    sys.exit(main())
