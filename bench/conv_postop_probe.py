#!/usr/bin/env python3
"""Does oneDNN post-op fusion pay on this CPU? (issue 23's inference lever, measured before
building it into wrn's optimized path.)

For WRN-16-4's three 3x3 convolution shapes at batch 64 (channels_last fp32, inference mode),
times the unfused ops wrn's optimized path runs (conv2d, then relu_ / add_ in place) against
the fused ops torch.compile's freezing uses (torch.ops.mkldnn._convolution_pointwise with a
ReLU post-op, and _convolution_pointwise_.binary adding into the residual in place, weights
prepacked by mkldnn_reorder_conv2d_weight). Checks that both give the same values, then
prints the median ms of each.

Usage: $(make -s python-path) bench/conv_postop_probe.py [--threads 2] [--iters 20]
"""
import argparse
import time

import torch


def median_ms(fn, iters):
    for _ in range(3):
        fn()
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2] * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    pad = stride = dil = [1, 1]
    print(f"torch {torch.__version__}, {a.threads} threads, batch {a.batch}, fp32 channels_last, median of {a.iters}")
    with torch.inference_mode():
        for c, hw in [(64, 32), (128, 16), (256, 8)]:
            cl = torch.channels_last
            x = torch.randn(a.batch, c, hw, hw).contiguous(memory_format=cl)
            res = torch.randn(a.batch, c, hw, hw).contiguous(memory_format=cl)
            w = torch.randn(c, c, 3, 3) * 0.05
            b = torch.randn(c)
            wcl = w.contiguous(memory_format=cl)
            wp = torch._C._nn.mkldnn_reorder_conv2d_weight(w.to_mkldnn(), pad, stride, dil, 1, list(x.shape))
            pw = torch.ops.mkldnn

            def plain_relu():
                return torch.nn.functional.conv2d(x, wcl, b, 1, 1).relu_()

            def fused_relu():
                return pw._convolution_pointwise(x, wp, b, pad, stride, dil, 1, "relu", [], "")

            def plain_add():
                return torch.nn.functional.conv2d(x, wcl, None, 1, 1).add_(res)

            def fused_add():  # adds into a copy of the residual, as wrn would into its own buffer
                return pw._convolution_pointwise_.binary(res.clone(), x, wp, None, pad, stride, dil, 1, "add",
                                                         None, None, [], None)

            d1 = (plain_relu() - fused_relu()).abs().max().item()
            d2 = (plain_add() - fused_add()).abs().max().item()
            print(f"{c:4d} ch {hw:2d}x{hw:<2d} conv+relu: unfused {median_ms(plain_relu, a.iters):6.2f} ms, "
                  f"post-op {median_ms(fused_relu, a.iters):6.2f} ms | conv+add: unfused "
                  f"{median_ms(plain_add, a.iters):6.2f} ms, post-op {median_ms(fused_add, a.iters):6.2f} ms "
                  f"(max diff {max(d1, d2):.1e})")


if __name__ == "__main__":
    main()
