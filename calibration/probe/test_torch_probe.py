"""Tests of torch_probe.py's pure parts (no torch, no GPU): python3 -m unittest discover -s calibration/probe
(test/calibration/torch-probe.test.ts runs this in CI)."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_probe as tp  # noqa: E402

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_probe.py")


class Arithmetic(unittest.TestCase):
    def test_gemm_flops_are_2mnk(self):
        self.assertEqual(tp.gemm_flops(64, 4096, 12288), 2 * 64 * 4096 * 12288)

    def test_tflops_matches_the_shared_h200_file(self):
        # shared/measurements: qkv m=64 k=4096 n=12288 ms=0.04070400074124336 -> 158.27561975921893 TF/s
        self.assertAlmostEqual(tp.tflops(tp.gemm_flops(64, 4096, 12288), 0.04070400074124336), 158.27561975921893, places=9)

    def test_causal_attention_flops_are_4_h_hd_c_times_P_plus_c_plus_1_over_2(self):
        self.assertEqual(tp.attention_flops(256, 1024, 32, 128, "causal"), 4 * 32 * 128 * (256 * 1024 + 256 * 257 / 2))
        # shared/measurements: c=256 P=1024 ms=0.06255999952554703 -> 77.2687883097891 TF/s
        fl = tp.attention_flops(256, 1024, 32, 128, "causal")
        self.assertAlmostEqual(tp.tflops(fl, 0.06255999952554703), 77.2687883097891, places=9)

    def test_dense_attention_counts_every_key(self):
        self.assertEqual(tp.attention_flops(256, 1024, 32, 128, "dense"), 4 * 32 * 128 * 256 * 1280)
        with self.assertRaises(ValueError):
            tp.attention_flops(1, 0, 1, 1, "sliding")

    def test_gbps_is_1e9_bytes_per_second(self):
        self.assertEqual(tp.gbps(1e9, 1000.0), 1.0)

    def test_busbw_factors_are_nccl_tests(self):
        # NVIDIA/nccl-tests doc/PERFORMANCE.md: all-reduce 2(n-1)/n, all-gather and reduce-scatter (n-1)/n, sendrecv 1
        self.assertEqual(tp.busbw_gbps("all_reduce", 8, 100.0), 175.0)
        self.assertEqual(tp.busbw_gbps("all_gather", 8, 100.0), 87.5)
        self.assertEqual(tp.busbw_gbps("reduce_scatter", 4, 100.0), 75.0)
        self.assertEqual(tp.busbw_gbps("sendrecv", 8, 100.0), 100.0)
        self.assertEqual(tp.busbw_gbps("all_reduce", 2, 100.0), 100.0)
        with self.assertRaises(ValueError):
            tp.busbw_factor("broadcast", 2)

    def test_collective_messages_round_up_to_whole_shares(self):
        self.assertEqual(tp.collective_elements("all_reduce", 8, 8, 2), 4)
        self.assertEqual(tp.collective_elements("all_gather", 8, 8, 2), 8)  # 4 elements -> one per rank at least
        self.assertEqual(tp.collective_elements("reduce_scatter", 1 << 20, 8, 2), 1 << 19)
        self.assertEqual(tp.collective_elements("sendrecv", 1, 2, 2), 1)

    def test_message_sizes_go_8_bytes_to_1_GiB_by_4(self):
        sizes = tp.message_sizes()
        self.assertEqual(sizes[:3], [8, 32, 128])
        self.assertEqual(sizes[-2:], [1 << 29, 1 << 30])
        self.assertTrue(all(b == 4 * a for a, b in zip(sizes[:-2], sizes[1:-1])))
        self.assertEqual(tp.message_sizes(8, 1 << 30, 16)[-1], 1 << 30)

    def test_repeats_aim_at_the_target_and_stay_in_3_to_50(self):
        self.assertEqual(tp.repeats_for(20.0, 60.0), 3)
        self.assertEqual(tp.repeats_for(100.0, 60.0), 3)
        self.assertEqual(tp.repeats_for(0.001, 60.0), 50)
        self.assertEqual(tp.repeats_for(4.0, 60.0), 15)
        self.assertEqual(tp.repeats_for(0.0, 60.0), 50)

    def test_median(self):
        self.assertEqual(tp.median([3, 1, 2]), 2)
        self.assertEqual(tp.median([4, 1, 2, 3]), 2.5)
        with self.assertRaises(ValueError):
            tp.median([])


class Shapes(unittest.TestCase):
    def test_llama2_7b_gemms_are_the_shared_files(self):
        self.assertEqual(tp.gemm_shapes(tp.MODELS["llama2-7b"]),
                         [("qkv", 4096, 12288), ("o", 4096, 4096), ("gate_up", 4096, 22016), ("down", 11008, 4096)])

    def test_gqa_qkv_has_h_plus_2_kv_heads(self):
        self.assertEqual(tp.gemm_shapes(tp.MODELS["mistral-7b"])[0], ("qkv", 4096, (32 + 16) * 128))

    def test_falcon_is_gelu_with_mqa(self):
        self.assertEqual(tp.gemm_shapes(tp.MODELS["falcon-7b"]),
                         [("qkv", 4544, 73 * 64), ("o", 4544, 4544), ("up", 4544, 18176), ("down", 18176, 4544)])

    def test_tp_shards_split_columns_of_qkv_and_gate_up_and_rows_of_o_and_down(self):
        self.assertEqual(tp.gemm_shapes(tp.MODELS["llama2-7b"], 4),
                         [("qkv", 4096, 3072), ("o", 1024, 4096), ("gate_up", 4096, 5504), ("down", 2752, 4096)])

    def test_kv_heads_are_replicated_below_one_per_shard(self):
        # llama2-70b: 8 KV heads over 8 shards -> 1 each; 16 shards would keep 1 (replicated)
        self.assertEqual(tp.gemm_shapes(tp.MODELS["llama2-70b"], 8)[0], ("qkv", 8192, (8 + 2) * 128))
        self.assertEqual(tp.gemm_shapes(tp.MODELS["llama2-70b"], 16)[0], ("qkv", 8192, (4 + 2) * 128))

    def test_unshardable_models_give_none(self):
        self.assertIsNone(tp.gemm_shapes(tp.MODELS["falcon-7b"], 2))  # 71 heads

    def test_elementwise_bytes_read_inputs_and_write_outputs_once(self):
        m = tp.MODELS["llama2-7b"]
        self.assertEqual(tp.elementwise_bytes("rms_norm", 10, m, 2), 2 * 10 * 4096 * 2 + 4096 * 2)
        self.assertEqual(tp.elementwise_bytes("residual_add", 10, m, 2), 3 * 10 * 4096 * 2)
        self.assertEqual(tp.elementwise_bytes("silu_mul", 10, m, 2), 3 * 10 * 11008 * 2)
        self.assertEqual(tp.elementwise_bytes("cat_kv", 10, m, 2, prefix=30), 2 * 40 * 32 * 128 * 2)
        self.assertEqual(tp.elementwise_bytes("transpose_copy", 10, m, 2), 2 * 10 * 4096 * 2)
        self.assertEqual(tp.elementwise_bytes("rope", 10, m, 2), 2 * 10 * 4096 * 2 + 10 * 128 * 2)
        with self.assertRaises(ValueError):
            tp.elementwise_bytes("softmax", 10, m, 2)


def args_for(argv):
    return tp.build_parser().parse_args(argv)


class Planning(unittest.TestCase):
    def plan(self, argv=(), ranks=1, device=None):
        args = args_for(list(argv))
        return tp.make_plan(args, device or tp.DeviceModel(), ranks)

    def test_full_plan_repeats_the_shared_grid_at_priority_0(self):
        target, kept, dropped, _ = self.plan()
        self.assertEqual(target, 60.0)
        self.assertEqual(dropped, [])
        first = [g for g in kept if g.priority == 0 and g.section == "gemm"]
        self.assertEqual([(g.points[0]["op"], g.points[0]["k"], g.points[0]["n"]) for g in first],
                         [("qkv", 4096, 12288), ("o", 4096, 4096), ("gate_up", 4096, 22016), ("down", 11008, 4096)])
        self.assertEqual([p["m"] for p in first[0].points], [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384])
        causal = [g for g in kept if g.section == "attention" and g.priority == 0][0]
        self.assertEqual(len(causal.points), 48)  # the shared file's 48 (c, P) points, c + P <= 32768
        self.assertTrue(all(p["c"] + p["P"] <= 32768 for p in causal.points))

    def test_the_plan_fits_five_minutes_on_an_h100_with_time_to_spare(self):
        _, kept, _, reserve = self.plan()
        self.assertLess(sum(g.est_s for g in kept), 300 - reserve)

    def test_shapes_shared_by_models_are_measured_once_and_list_every_model(self):
        _, kept, _, _ = self.plan(["--dtypes", "fp16", "--tp", "1"])
        qkv = [g for g in kept if g.section == "gemm" and g.points[0]["op"] == "qkv" and g.points[0]["n"] == 6144]
        self.assertEqual(len(qkv), 1)
        self.assertEqual(qkv[0].points[0]["models"], ["llama3-8b", "mistral-7b"])
        o = [g for g in kept if g.section == "gemm" and g.points[0]["op"] == "o" and g.points[0]["k"] == 4096]
        self.assertEqual(o[0].points[0]["models"], ["llama2-7b", "llama3-8b", "mistral-7b"])

    def test_a_small_budget_drops_whole_groups_lowest_priority_first(self):
        _, kept, dropped, _ = self.plan(["--budget-s", "40"])
        self.assertTrue(dropped)
        self.assertLessEqual(sum(g.est_s for g in kept), 40 - tp.reserve_for(40))
        self.assertGreaterEqual(min(g.priority for g in dropped), max(g.priority for g in kept))
        self.assertIn(0, [g.priority for g in kept])
        # priority-0 groups are all kept
        _, all_groups, _, _ = self.plan()
        self.assertEqual(len([g for g in kept if g.priority == 0]), len([g for g in all_groups if g.priority == 0]))

    def test_apply_budget_keeps_by_priority_then_plan_order(self):
        gs = [tp.Group("gemm", n, pr, []) for n, pr in [("a", 2), ("b", 0), ("c", 1), ("d", 0)]]
        for g, est in zip(gs, [5, 4, 3, 4]):
            g.est_s = est
        kept, dropped = tp.apply_budget(gs, 12, 0)
        self.assertEqual([g.name for g in kept], ["b", "c", "d"])
        self.assertEqual([g.name for g in dropped], ["a"])
        kept, dropped = tp.apply_budget(gs, 100, 91)  # b, d fit (8); c (3 more) would not; a ranks below c
        self.assertEqual([g.name for g in kept], ["b", "d"])
        self.assertEqual([g.name for g in dropped], ["a", "c"])

    def test_measuring_goes_by_priority_then_section(self):
        _, kept, _, _ = self.plan(ranks=2)
        steps = tp.execution_steps(kept)
        self.assertEqual(steps[:5], [(0, "launch"), (0, "gemm"), (0, "attention"), (0, "elementwise"), (0, "collectives")])
        self.assertEqual([pr for pr, _ in steps], sorted(pr for pr, _ in steps))
        self.assertIn((1, "p2p"), steps)

    def test_the_first_collectives_group_carries_the_process_and_nccl_setup(self):
        _, kept, _, _ = self.plan(ranks=2)
        coll = [g for g in kept if g.section == "collectives"]
        self.assertGreater(coll[0].est_s, tp.COLLECTIVES_SETUP_S)
        self.assertLess(coll[1].est_s, tp.COLLECTIVES_SETUP_S)

    def test_a_slower_gpu_costs_more_time(self):
        fast = sum(g.est_s for g in self.plan()[1])
        slow_dev = tp.DeviceModel(tflops_fp16=312, tflops_fp8=312, hbm_gbps=1555)
        slow = sum(g.est_s for g in tp.estimate_groups(tp.plan_groups(list(tp.MODELS), ["fp16", "bf16", "fp8"], [1, 2, 4, 8],
                                                                      list(tp.SECTIONS)), slow_dev, 60.0))
        self.assertGreater(slow, fast)

    def test_quick_is_coarse_and_fast(self):
        target, kept, _, _ = self.plan(["--quick"])
        self.assertEqual(target, 10.0)
        self.assertLess(sum(g.est_s for g in kept), sum(g.est_s for g in self.plan()[1]) / 2)

    def test_sections_select(self):
        _, kept, _, _ = self.plan(["--sections", "attention,launch"])
        self.assertEqual(sorted({g.section for g in kept}), ["attention", "launch"])

    def test_collectives_need_two_ranks(self):
        self.assertFalse([g for g in self.plan()[1] if g.section in ("p2p", "collectives")])
        _, kept, _, _ = self.plan(ranks=8)
        coll = [g for g in kept if g.section == "collectives"]
        self.assertEqual(sorted({g.points[0]["op"] for g in coll}), sorted(tp.COLLECTIVE_OPS))
        self.assertEqual(coll[0].points[0]["bytes"], 8)
        self.assertEqual(coll[0].points[-1]["bytes"], 1 << 30)
        ag = [g for g in coll if g.points[0]["op"] == "all_gather"][0]
        self.assertEqual(ag.points[0]["bytes"], 16)  # 8 B rounded up to one fp16 per rank

    def test_fp8_needs_multiples_of_16(self):
        groups = tp.plan_groups(["llama2-7b"], ["fp8"], [1], ["gemm"])
        self.assertTrue(all(g.points[0]["k"] % 16 == 0 and g.points[0]["n"] % 16 == 0 for g in groups))
        self.assertEqual(tp.plan_groups(["llama2-7b"], ["fp8"], [1], ["gemm"], fp8=False), [])

    def test_unknown_values_are_refused(self):
        for argv in (["--sections", "gemm,foo"], ["--models", "gpt-5"], ["--dtypes", "fp4"]):
            with self.assertRaises(SystemExit):
                with open(os.devnull, "w") as null:
                    old, sys.stderr = sys.stderr, null
                    try:
                        args_for(argv)
                    finally:
                        sys.stderr = old


class Document(unittest.TestCase):
    def test_entries_carry_the_contract_fields(self):
        e = tp.gemm_entry("qkv", 64, 4096, 12288, 0.04070400074124336, "fp16", ["llama2-7b"])
        self.assertEqual(sorted(e), ["dtype", "k", "m", "models", "ms", "n", "op", "tflops"])
        a = tp.attention_entry(256, 1024, 0.0625, "causal", 32, 8, 128, "bf16", "flash")
        self.assertEqual(sorted(a), ["P", "c", "dtype", "head_dim", "heads", "impl", "kv_heads", "mask", "ms", "tflops"])
        c = tp.collective_entry("all_reduce", 8, 1 << 30, 10.0)
        self.assertAlmostEqual(c["algbw_gbps"], (1 << 30) / 1e-2 / 1e9)
        self.assertAlmostEqual(c["busbw_gbps"], c["algbw_gbps"] * 14 / 8)
        w = tp.elementwise_entry("cat_kv", 1024, 1000, 0.01, prefix=3072, kernels=1)
        self.assertEqual((w["prefix"], w["kernels"]), (3072, 1))
        self.assertAlmostEqual(w["gbps"], 0.1)
        self.assertNotIn("prefix", tp.elementwise_entry("rms_norm", 1024, 1000, 0.01, prefix=0))
        self.assertEqual(tp.p2p_entry(8, 0.01, 0, 1, True)["peer_access"], True)

    def test_a_fresh_document_is_complete_in_shape_and_drops_empty_optionals(self):
        env = dict(tp.SYNTHETIC_ENV)
        doc = tp.finish_document(tp.new_document(env, ["llama2-7b"], 300, 60, 3, 50))
        for key in ("schema", "what", "gpu", "compute_capability", "torch", "dtype", "timing", "model_shape", "gemm",
                    "attention", "sm_count", "memory_bytes", "probe_version", "budget_s", "elapsed_s", "skipped"):
            self.assertIn(key, doc)
        self.assertNotIn("launch", doc)
        self.assertNotIn("cuda", doc)
        self.assertEqual(doc["schema"], "kvr-measurements/torch-probe@1")
        self.assertEqual(doc["model_shape"]["hidden"], 4096)
        self.assertIn("60 ms", doc["timing"])

    def test_write_is_atomic_and_leaves_no_temp_files(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "out.json")
            doc = tp.new_document(tp.SYNTHETIC_ENV, ["llama2-7b"], 300, 60, 3, 50)
            tp.write_json_atomic(path, doc)
            doc["gemm"].append(tp.gemm_entry("o", 64, 4096, 4096, 0.02, "fp16"))
            tp.write_json_atomic(path, doc)
            self.assertEqual(os.listdir(d), ["out.json"])
            with open(path) as f:
                self.assertEqual(len(json.load(f)["gemm"]), 1)

    def test_synthetic_times_are_the_roofline(self):
        dev = tp.DeviceModel(tflops_fp16=100, hbm_gbps=1000, launch_us=0, gemm_eff=1.0)
        p = dict(section="gemm", m=8192, k=8192, n=8192, dtype="fp16")
        self.assertAlmostEqual(tp.synthetic_ms(p, dev), 2 * 8192 ** 3 / 100e12 * 1e3)


class CommandLine(unittest.TestCase):
    def run_probe(self, *argv):
        env = dict(os.environ)
        env["PYTHONPATH"] = ""  # --help and the no-GPU modes must not need torch
        return subprocess.run([sys.executable, PROBE] + list(argv), capture_output=True, text=True, env=env, timeout=120)

    def test_help_works_without_torch(self):
        r = self.run_probe("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        for flag in ("--budget-s", "--out", "--quick", "--sections", "torchrun --nproc_per_node"):
            self.assertIn(flag, r.stdout)

    def test_dry_run_prints_the_plan(self):
        r = self.run_probe("--dry-run", "--budget-s", "60", "--ranks", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("plan:", r.stdout)
        self.assertIn("drop p4", r.stdout)
        self.assertIn("keep p0 gemm fp16 qkv k=4096 n=12288", r.stdout)

    def test_synthetic_file_has_every_section(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "syn.json")
            r = self.run_probe("--synthetic", "--quick", "--ranks", "4", "--out", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(path) as f:
                doc = json.load(f)
        self.assertTrue(doc["complete"])
        self.assertEqual(doc["synthetic"]["tflops_fp16"], 989.0)
        for key in ("gemm", "attention", "elementwise", "p2p", "collectives"):
            self.assertTrue(doc[key], key)
        self.assertIn("empty_kernel_us", doc["launch"])
        self.assertEqual({c["ranks"] for c in doc["collectives"]}, {4})
        self.assertEqual({a["mask"] for a in doc["attention"]}, {"causal", "dense"})

    @unittest.skipIf(__import__("importlib").util.find_spec("torch") is not None, "torch is installed here")
    def test_measuring_without_torch_says_so(self):
        with tempfile.TemporaryDirectory() as d:
            r = self.run_probe("--out", os.path.join(d, "x.json"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("PyTorch is not installed", r.stderr)


if __name__ == "__main__":
    unittest.main()


class FakeEvent(object):
    """A CUDA event whose elapsed time is always 0.5 ms."""

    def __init__(self, enable_timing=False):
        pass

    def record(self, stream=None):
        pass

    def synchronize(self):
        pass

    def elapsed_time(self, other):
        return 0.5


def fake_torch(gpus):
    """A stand-in torch (unittest.mock) with just enough concrete values (device properties, event
    times, the SDPA signature) to drive the probe's measuring code: it checks control flow and the
    file it writes, not any number or any real PyTorch behaviour."""
    from unittest import mock
    torch = mock.MagicMock(name="torch")
    torch.__version__ = "0.0.0-fake"
    torch.version.cuda = "0.0"
    torch.cuda.is_available.return_value = True
    torch.cuda.device_count.return_value = gpus
    torch.cuda.get_device_capability.return_value = (9, 0)
    props = mock.Mock(multi_processor_count=132, total_memory=80 * 10 ** 9, major=9, minor=0)
    props.name = "Fake GPU"
    torch.cuda.get_device_properties.return_value = props
    torch.cuda.Event = FakeEvent
    torch.cuda._sleep = lambda cycles: None

    def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        return q
    torch.nn.functional.scaled_dot_product_attention = sdpa
    return {"torch": torch, "torch.nn": torch.nn, "torch.nn.functional": torch.nn.functional,
            "torch.nn.attention": torch.nn.attention, "torch.nn.attention.bias": torch.nn.attention.bias,
            "torch.multiprocessing": torch.multiprocessing, "torch.distributed": torch.distributed,
            "torch.backends": torch.backends, "torch.backends.cuda": torch.backends.cuda,
            "torch.profiler": torch.profiler, "torch.autograd": torch.autograd}


class FakeTorchRun(unittest.TestCase):
    """The measuring path end to end on a fake torch. With KVR_PROBE_FAKE_OUT set, the file is
    kept there (test/calibration/torch-probe.test.ts validates it against the JSON Schema)."""

    def run_fake(self, argv, gpus=2):
        from unittest import mock
        with tempfile.TemporaryDirectory() as d:
            path = os.environ.get("KVR_PROBE_FAKE_OUT") or os.path.join(d, "fake.json")
            with mock.patch.dict(sys.modules, fake_torch(gpus)), mock.patch.dict(os.environ, {"WORLD_SIZE": "1"}):
                with open(os.devnull, "w") as null:
                    old, sys.stderr = sys.stderr, null
                    try:
                        rc = tp.main(list(argv) + ["--out", path])
                    finally:
                        sys.stderr = old
            self.assertEqual(rc, 0)
            with open(path) as f:
                return json.load(f)

    def test_every_section_is_measured_and_written(self):
        doc = self.run_fake(["--quick", "--max-repeats", "3"])
        self.assertTrue(doc["complete"])
        self.assertEqual(doc["gpu"], "Fake GPU")
        self.assertEqual(doc["compute_capability"], [9, 0])
        self.assertEqual(doc["memory_bytes"], 80 * 10 ** 9)
        self.assertEqual(doc["gemm"][0]["ms"], 0.5)
        self.assertEqual({g["dtype"] for g in doc["gemm"]}, {"fp16", "bf16", "fp8"})
        self.assertEqual({(a["heads"], a["kv_heads"], a["head_dim"], a["mask"]) for a in doc["attention"]},
                         {(32, 32, 128, "causal"), (32, 32, 128, "dense"), (32, 8, 128, "causal"), (32, 32, 64, "causal"),
                          (71, 1, 64, "causal")})
        self.assertEqual(sorted({e["kernel"] for e in doc["elementwise"]}), sorted(tp.ELEMENTWISE_KERNELS))
        self.assertEqual({e.get("kernels") for e in doc["elementwise"]}, {None})  # the fake profiler sees no kernel: none claimed
        self.assertEqual({a.get("impl") for a in doc["attention"]}, {"flash"})
        self.assertEqual(doc["launch"]["empty_kernel_us"], 0.5 * 1e3 / 2000)
        self.assertEqual(len(doc["p2p"]), len(tp.message_sizes(8, 1 << 30, 16)))
        # the fake mp.spawn writes no result: the collectives section fails cleanly and says so
        self.assertEqual(doc["collectives"], [])
        self.assertTrue(any(s["section"] == "collectives" and "failed" in s["reason"] for s in doc["skipped"]))

    def test_one_gpu_skips_p2p_and_collectives_with_a_reason(self):
        doc = self.run_fake(["--quick", "--sections", "launch,p2p,collectives"], gpus=1)
        self.assertEqual([s["section"] for s in doc["skipped"]], ["p2p", "collectives"])
        self.assertIn("torchrun", doc["skipped"][0]["reason"])
