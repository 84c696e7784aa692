"""(a) The differentiable top-k against a naive O(N^2) rank, one case per process.

    python benchmarks/bench_topk.py --impl ours --n 11008

prints one JSON line: forward+backward time (median of repeats) and the peak
resident memory the case added over the process's baseline.
"""
import argparse
import json
import resource
import time

import torch


def naive_topk(importance, keep, lambda_scale=1.0):
    """The reference's O(N^2) form: rank by an N x N comparison."""
    n = importance.shape[-1]
    rank = (importance.unsqueeze(-1) > importance.unsqueeze(-2)).float().mean(-1)
    return torch.sigmoid(lambda_scale * n * (rank - (1 - keep) + 0.5 / n))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--impl', choices=['ours', 'naive'], required=True)
    parser.add_argument('--n', type=int, required=True)
    parser.add_argument('--repeats', type=int, default=20)
    args = parser.parse_args()
    from dms_mm.ops import differentiable_topk

    fn = differentiable_topk if args.impl == 'ours' else naive_topk
    torch.manual_seed(0)
    importance = torch.rand(args.n)
    keep = torch.tensor(0.5, requires_grad=True)
    base = peak_rss_mb()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        mask = fn(importance, keep)
        mask.sum().backward()
        times.append(time.perf_counter() - start)
    reference = differentiable_topk(importance, 0.5)
    same = bool(torch.equal(fn(importance, 0.5) >= 0.5, reference >= 0.5))
    times.sort()
    print(json.dumps(dict(impl=args.impl, n=args.n, ms=1000 * times[len(times) // 2],
                          peak_mb=peak_rss_mb() - base, same_mask=same)))


if __name__ == '__main__':
    main()
