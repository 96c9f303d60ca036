"""Benchmark of the ALAS core: similarity and MAS on one utterance's layers, against baselines in-process.

Usage (from the repository root):

    NUMBA_CACHE_DIR=.cache/numba .venv/bin/python benchmarks/bench_alas.py
    NUMBA_CACHE_DIR=.cache/numba .venv/bin/python benchmarks/bench_alas.py --audio 750 --text 150 \
        --layers 33 --widths 576 896 4096 --repeats 9

Optional baseline, the PyPI package `monotonic-alignment-search` (Cython Glow-TTS core), kept out of the
project's environment:

    .venv/bin/pip install --no-deps --target .cache/bench_deps monotonic-alignment-search==0.2.1
    NUMBA_CACHE_DIR=.cache/numba .venv/bin/python benchmarks/bench_alas.py --extra-path .cache/bench_deps

Prints medians over --repeats runs (after a warm-up run that also compiles numba) and ratios
baseline / ours (above 1: ours is faster). Checks that every MAS implementation returns the same paths.
Parallel regions (numba prange, torch's matmul) slow down badly when other processes busy the cores: the
script prints the load average; compare runs taken at low load, or pin --threads 1. torch's OpenMP workers
spin after each matmul and starve numba's (MAS 10x slower right after similarity on 2 cores); run with
OMP_WAIT_POLICY=PASSIVE in the environment (set before torch is imported) to see both at their best:

    OMP_WAIT_POLICY=PASSIVE NUMBA_CACHE_DIR=.cache/numba .venv/bin/python benchmarks/bench_alas.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import numba
import numpy as np
import torch

from speechalign.metrics.alas import maximum_path, similarity


def median_ms(run: Callable[[], object], repeats: int, prepare: Callable[[], object] | None = None) -> float:
    """Median wall time of ``run`` in ms; ``prepare`` (untimed) runs before each call."""
    times = []
    for _ in range(repeats + 1):  # the first call warms up (numba compile, allocator) and is dropped
        if prepare is not None:
            prepare()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times[1:]))


def mas_numpy_reference(sim: np.ndarray) -> np.ndarray:
    """Straightforward numpy MAS, vectorised over layers and tokens, row by row: (L, A, T) -> (L, A)."""
    n_layers, n_audio, n_text = sim.shape
    best = np.full((n_layers, n_text), -np.inf, dtype=sim.dtype)  # (L, T) best sum ending at (row, token)
    best[:, 0] = sim[:, 0, 0]
    advanced = np.zeros((n_layers, n_audio, n_text), dtype=bool)  # (L, A, T)
    edge = np.full((n_layers, 1), -np.inf, dtype=sim.dtype)
    for i in range(1, n_audio):
        from_previous = np.concatenate([edge, best[:, :-1]], axis=1)  # (L, T) score of advancing into j
        advanced[:, i] = from_previous > best  # ties stay
        best = np.maximum(best, from_previous) + sim[:, i]
    layers = np.arange(n_layers)
    token = np.full(n_layers, n_text - 1)
    path = np.empty((n_layers, n_audio), dtype=np.int64)
    for i in range(n_audio - 1, -1, -1):
        path[:, i] = token
        token = token - advanced[layers, i, token]
    return path


def similarity_normalise_first(audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Baseline: L2-normalise every position, then matmul (what the ALAS reference code does)."""
    audio = torch.nn.functional.normalize(audio.float(), dim=-1)  # (L, A, D)
    text = torch.nn.functional.normalize(text.float(), dim=-1)  # (L, T, D)
    return audio @ text.transpose(1, 2)  # (L, A, T)


def bench_mas(sim: np.ndarray, repeats: int) -> None:
    n_layers = sim.shape[0]
    ours = maximum_path(sim, check_finite=False)
    # The baselines do not scan for NaN/inf, so the ratios compare with our kernel without the scan.
    kernel_ms = median_ms(lambda: maximum_path(sim, check_finite=False), repeats)
    scan_ms = median_ms(lambda: maximum_path(sim), repeats)
    single = np.ascontiguousarray(sim[0])
    single_ms = median_ms(lambda: maximum_path(single, check_finite=False), repeats)
    rows = [
        ("speechalign maximum_path, all layers (numba, prange)", kernel_ms),
        ("  same, with the NaN/inf scan (the default)", scan_ms),
        ("speechalign maximum_path, one layer", single_ms),
    ]
    baselines = [
        (
            "numpy reference (row-by-row DP, vectorised over layers)",
            mas_numpy_reference(sim),
            median_ms(lambda: mas_numpy_reference(sim), max(1, repeats // 3)),
        )
    ]
    baselines += package_baselines(sim, repeats)
    print(f"\nMAS, {n_layers} layers of {sim.shape[1]}x{sim.shape[2]} (audio x text), float32")
    for name, ms in rows:
        print(f"  {name:<62} {ms:9.3f} ms")
    for name, paths, ms in baselines:
        same = "identical paths" if np.array_equal(paths, ours) else "PATHS DIFFER"
        print(f"  {name:<62} {ms:9.3f} ms  x{ms / rows[0][1]:7.1f} vs ours ({same})")


def package_baselines(sim: np.ndarray, repeats: int) -> list[tuple[str, np.ndarray, float]]:
    """The PyPI Cython core on numpy, fed its native text-major layout; empty when it is not installed."""
    try:
        from monotonic_alignment_search.core import maximum_path_c
    except ImportError:
        print("  (monotonic-alignment-search not importable: see the usage docstring to add it)")
        return []
    text_major = np.ascontiguousarray(sim.transpose(0, 2, 1))  # (L, T, A); transpose not timed
    n_layers, n_text, n_audio = text_major.shape
    work = text_major.copy()  # it overwrites its input: refresh before each call, untimed
    out = np.zeros(text_major.shape, dtype=np.int32)
    t_x = np.full(n_layers, n_text, dtype=np.int32)
    t_y = np.full(n_layers, n_audio, dtype=np.int32)

    def refresh():
        np.copyto(work, text_major)
        out.fill(0)

    def looping():
        for layer in range(n_layers):
            maximum_path_c(out[layer : layer + 1], work[layer : layer + 1], t_x[:1], t_y[:1])

    batched_ms = median_ms(lambda: maximum_path_c(out, work, t_x, t_y), repeats, refresh)
    looping_ms = median_ms(looping, repeats, refresh)
    paths = out.argmax(axis=1)  # (L, A): the token of each audio row
    return [
        ("monotonic-alignment-search (Cython), one call, all layers", paths, batched_ms),
        ("monotonic-alignment-search (Cython), looping over layers", paths, looping_ms),
    ]


def bench_similarity(n_layers: int, n_audio: int, n_text: int, width: int, repeats: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(width)
    audio = torch.randn(n_layers, n_audio, width, generator=generator)
    text = torch.randn(n_layers, n_text, width, generator=generator)
    ours_ms = median_ms(lambda: similarity(audio, text), repeats)
    base_ms = median_ms(lambda: similarity_normalise_first(audio, text), repeats)
    bare_ms = median_ms(lambda: torch.bmm(audio, text.transpose(1, 2)), repeats)
    half = audio.to(torch.bfloat16), text.to(torch.bfloat16)
    bf16_ms = median_ms(lambda: similarity(*half), repeats)
    sim = similarity(audio, text)
    agree = np.abs(sim - similarity_normalise_first(audio, text).numpy()).max()
    print(f"\nsimilarity, {n_layers} layers, {n_audio}x{n_text}, d={width}")
    print(f"  {'speechalign similarity (matmul, then scale by inverse norms)':<62} {ours_ms:9.1f} ms")
    print(f"  {'  same, bf16 input (upcast to float32 included)':<62} {bf16_ms:9.1f} ms")
    print(
        f"  {'normalise-then-matmul baseline':<62} {base_ms:9.1f} ms  x{base_ms / ours_ms:5.2f} vs ours"
        f" (max |diff| {agree:.1e})"
    )
    print(
        f"  {'bare matmul (lower bound, no normalisation)':<62} {bare_ms:9.1f} ms  x{bare_ms / ours_ms:5.2f}"
    )
    return sim


def bench_principal_components(n_layers: int, width: int, components: int, repeats: int) -> None:
    """pc-removed's fitted directions (per layer, the top ``components`` eigenvectors of the covariance) by
    ``top_eigenvectors`` (LAPACK's subset driver) against the full ``torch.linalg.eigh`` it replaced."""
    from speechalign.metrics.alas.normalisations import top_eigenvectors

    generator = torch.Generator().manual_seed(width)
    hidden = torch.randn(n_layers, 4 * width, width, generator=generator, dtype=torch.float64)
    covariance = torch.bmm(hidden.transpose(1, 2), hidden) / hidden.shape[1]

    def full_eigh() -> torch.Tensor:
        return torch.linalg.eigh(covariance)[1][:, :, width - components :].flip(2).transpose(1, 2)

    ours_ms = median_ms(lambda: top_eigenvectors(covariance, components), repeats)
    base_ms = median_ms(full_eigh, repeats)
    overlap = (top_eigenvectors(covariance, components) * full_eigh()).sum(-1).abs()  # |cos|, sign is free
    print(f"\npc-removed statistics, {n_layers} layers, d={width}, top {components} components")
    print(f"  {'top_eigenvectors (subset driver)':<62} {ours_ms:9.1f} ms")
    print(
        f"  {'full torch.linalg.eigh baseline':<62} {base_ms:9.1f} ms  x{base_ms / ours_ms:5.2f} vs ours"
        f" (min |cos| {overlap.min():.6f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=int, default=750, help="audio positions A (Qwen2-Audio max: 750)")
    parser.add_argument("--text", type=int, default=150, help="transcript tokens T")
    parser.add_argument("--layers", type=int, default=33, help="hidden-state layers (embeddings + 32)")
    parser.add_argument("--widths", type=int, nargs="+", default=[576, 896, 4096], help="hidden widths d")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per measurement (median)")
    parser.add_argument("--extra-path", help="a folder to put on sys.path for optional baselines")
    parser.add_argument("--threads", type=int, help="threads for numba and torch (default: theirs)")
    args = parser.parse_args()
    if args.extra_path:
        sys.path.insert(0, args.extra_path)
    if args.threads:
        numba.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    threads = f"torch threads {torch.get_num_threads()}, numba threads {numba.get_num_threads()}"
    print(f"{threads}, load average {load}")
    sim = None
    for width in args.widths:
        sim = bench_similarity(args.layers, args.audio, args.text, width, args.repeats)
    bench_mas(sim, args.repeats)  # MAS on a real cosine matrix (the last width's)
    bench_principal_components(args.layers, args.widths[0], 5, max(3, args.repeats // 3))


if __name__ == "__main__":
    main()
