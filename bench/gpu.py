"""The GPU report: full-size MotivNet-1B with random weights on one CUDA device, in a few minutes.

Raw bf16 throughput per batch size, the upstream way (fp32 eager), MFU against 9.33 TFLOP per image and the
measured matmul peak, the attention kernel SDPA picks, peak memory, optional torch.compile, and served vs raw
at saturation. Every section writes into OUT/gpu_report.json as it finishes; the table prints last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import traceback
from dataclasses import asdict
from pathlib import Path

import httpx
import torch

from bench.load import measure
from bench.random_model import make_random_model_folder
from bench.raw import FLOP_PER_IMAGE_1B, RawResult, build_model, time_forward
from bench.server_process import ServerProcess

CUDA = torch.device("cuda")


def matmul_peak_tflops(size: int = 8192, repeats: int = 20) -> float:
    a = torch.randn(size, size, device=CUDA, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=CUDA, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e12


def attention_kernels(model: torch.nn.Module) -> list[str]:
    """Names of the attention kernels one bf16 forward launches (flash should be among them)."""
    pixels = torch.randn(2, 3, 1024, 768, device=CUDA, dtype=torch.bfloat16)
    with torch.inference_mode(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        model(pixels)
        torch.cuda.synchronize()
    names = {event.key for event in prof.key_averages()}
    return sorted(
        name for name in names if "flash" in name.lower() or "attention" in name.lower() or "fmha" in name.lower()
    )


def raw_sweep(
    dtype: torch.dtype, sizes: list[int], repeats: int, compile_mode: str | None = None
) -> tuple[list[RawResult], float]:
    model = build_model(None, "sapiens-1b", CUDA, dtype)
    compile_seconds = 0.0
    if compile_mode:
        model = torch.compile(model, mode=compile_mode)
        start = time.perf_counter()
        with torch.inference_mode():
            model(torch.randn(sizes[0], 3, 1024, 768, device=CUDA, dtype=dtype))
        torch.cuda.synchronize()
        compile_seconds = time.perf_counter() - start
    results = [time_forward(model, size, CUDA, dtype, repeats) for size in sizes]
    del model
    torch.cuda.empty_cache()
    return results, compile_seconds


def served(
    folder: Path, max_batch_size: int, concurrency: list[int], seconds: float, out: Path, *extra: str
) -> list[dict]:
    image = (Path(__file__).parent / "data" / "astronaut.jpg").read_bytes()
    options = [
        "--model-dir",
        str(folder),
        "--device",
        "cuda",
        "--dtype",
        "bfloat16",
        "--max-batch-size",
        str(max_batch_size),
        "--max-batch-delay-ms",
        "5",
        "--max-queue-size",
        "4096",
        *extra,
    ]
    log_name = f"server_b{max_batch_size}{''.join(extra).replace('-', '_')}.log"
    with ServerProcess(*options, log_path=out / log_name) as server:
        server.wait_ready(300)
        return [asdict(asyncio.run(measure(server.url, [image], "closed", c, seconds))) for c in concurrency]


def served_with_detection(folder: Path, photo: Path, concurrency: int, seconds: float, out: Path) -> dict:
    """A group photo through detection (MobileNet RetinaFace on the GPU), crops and the 1B model."""
    image = photo.read_bytes()
    options = ["--model-dir", str(folder), "--device", "cuda", "--max-batch-size", "32", "--max-queue-size", "4096"]
    with ServerProcess(*options, log_path=out / "server_detect.log") as server:
        server.wait_ready(300)
        answer = httpx.post(f"{server.url}/predict", content=image, headers={"content-type": "image/jpeg"}).json()
        faces = len(answer["results"][0]["faces"])
        result = asdict(asyncio.run(measure(server.url, [image], "closed", concurrency, seconds, detect=True)))
    return {"faces_per_image": faces, "faces_per_s": faces * result["images_per_s"], "load": result}


class Report:
    def __init__(self, out: Path) -> None:
        self.out, self.data, self.start = out, {}, time.perf_counter()

    def section(self, name: str, work) -> None:  # work: a zero-argument callable
        began = time.perf_counter()
        print(f"[{began - self.start:6.1f}s] {name} ...", flush=True)
        try:
            self.data[name] = work()
        except Exception:  # noqa: BLE001 - a failed section is reported, the rest still runs
            self.data[name] = {"error": traceback.format_exc()}
            print(self.data[name]["error"], flush=True)
        self.data.setdefault("seconds", {})[name] = round(time.perf_counter() - began, 1)
        (self.out / "gpu_report.json").write_text(json.dumps(self.data, indent=2, default=str))

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def table(data: dict) -> str:
    peak = data.get("matmul_peak_tflops") or 800.0
    lines = [f"device: {data.get('device')}  torch {data.get('torch')}  matmul bf16 peak {peak:.0f} TFLOP/s"]
    for key, title in (
        ("raw_bf16", "bf16 eager"),
        ("raw_bf16_compiled", "bf16 torch.compile"),
        ("raw_fp32", "fp32 eager (upstream)"),
    ):
        rows = data.get(key)
        if not isinstance(rows, dict) or "results" not in rows:
            continue
        lines.append(f"{title}:  batch  img/s  ms/batch  peak GB  MFU(measured peak)  MFU(989 spec)")
        for r in rows["results"]:
            mfu = r["images_per_s"] * FLOP_PER_IMAGE_1B / 1e12
            lines.append(
                f"  {r['batch_size']:5d} {r['images_per_s']:7.2f} {r['median_ms']:9.1f} {r['peak_memory_gb']:8.2f}"
                f" {mfu / peak:10.1%} {mfu / 989:14.1%}"
            )
    for key in ("served_batched", "served_unbatched", "served_compiled"):
        for r in data.get(key) or []:
            if isinstance(r, dict) and "images_per_s" in r:
                lines.append(
                    f"{key}: c={r['level']:g} {r['images_per_s']:.2f} img/s p50 {r['p50_ms']:.1f} ms "
                    f"p99 {r['p99_ms']:.1f} ms batch {r['mean_batch_size']:.2f} errors {r['errors']}"
                )
    detect = data.get("served_detect")
    if isinstance(detect, dict) and "load" in detect:
        load = detect["load"]
        lines.append(
            f"served_detect: {detect['faces_per_image']} faces/image, {load['images_per_s']:.2f} images/s = "
            f"{detect['faces_per_s']:.1f} faces/s, p50 {load['p50_ms']:.1f} ms, batch {load['mean_batch_size']:.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.environ.get("OUT", "bench-out"))
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--served-batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--compile-budget-s", type=float, default=200, help="skip torch.compile past this elapsed time")
    parser.add_argument(
        "--sections",
        nargs="*",
        default=["raw", "served", "compile"],
        help="raw, served, compile (the forward compiled), compile-served (minutes of start-up), detect",
    )
    parser.add_argument("--detect-image", type=Path, help="a group photo for the 'detect' section")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out)
    sizes = [s for s in (1, 2, 4, 8, 16, 32, 64, 128) if s <= args.max_batch_size]
    report.data.update(device=torch.cuda.get_device_name(), torch=torch.__version__)
    report.section("matmul_peak_tflops", matmul_peak_tflops)
    if "raw" in args.sections:
        report.section("raw_bf16", lambda: {"results": [asdict(r) for r in raw_sweep(torch.bfloat16, sizes, 5)[0]]})
        report.section(
            "attention_kernels", lambda: attention_kernels(build_model(None, "sapiens-1b", CUDA, torch.bfloat16))
        )
        report.section(
            "raw_fp32", lambda: {"results": [asdict(r) for r in raw_sweep(torch.float32, [1, 2, 4, 8], 3)[0]]}
        )
    folder = Path("/tmp/motivnet-random-1b")
    saturation = [2 * args.served_batch]
    if "served" in args.sections:
        report.section("random_folder", lambda: str(make_random_model_folder(folder, "sapiens-1b")))
        report.section("served_batched", lambda: served(folder, args.served_batch, [1, *saturation], args.seconds, out))
        report.section("served_unbatched", lambda: served(folder, 1, saturation, args.seconds / 2, out))
    if "compile" in args.sections and report.elapsed < args.compile_budget_s:

        def compiled() -> dict:
            results, seconds = raw_sweep(torch.bfloat16, [args.served_batch], 5, compile_mode="default")
            return {"compile_seconds": seconds, "results": [asdict(r) for r in results]}

        report.section("raw_bf16_compiled", compiled)
        if "compile-served" in args.sections:
            report.section(
                "served_compiled", lambda: served(folder, args.served_batch, saturation, args.seconds, out, "--compile")
            )
    if "detect" in args.sections and args.detect_image:
        if not (folder / "model.json").is_file():
            report.section("random_folder", lambda: str(make_random_model_folder(folder, "sapiens-1b")))
        report.section("served_detect", lambda: served_with_detection(folder, args.detect_image, 16, args.seconds, out))
    text = table(report.data)
    (out / "gpu_table.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
