"""Side-by-side timings for target 8 of issue 4: denormal (subnormal) vs normal inputs on each algorithm, and the
per-call overhead of a tiny call. Not a pytest suite: `python benchmarks/denormals.py` prints one line per case."""
import timeit

import numpy as np

import fastconv
from fastconv._bench_shapes import SHAPES_BY_ID
from fastconv.bench import time_median


def denormal(a):
    """a scaled into the float32 subnormal range (every nonzero element below the smallest normal)."""
    d = (a * np.float32(1e-39)).astype(np.float32)
    assert (np.abs(d[d != 0]) < np.finfo(np.float32).tiny).all()
    return d


def compare(name, fn, a):
    d = denormal(a)
    normal, sub = time_median(lambda: fn(a), repeats=7), time_median(lambda: fn(d), repeats=7)
    print(f"{name:48s} normal {normal * 1e3:8.3f} ms  denormal {sub * 1e3:8.3f} ms  ratio {sub / normal:.2f}")


def main():
    x, w, b, gy = SHAPES_BY_ID["mnist_1x6_2x2"].arrays("NHWC")
    compare("mnist 1x6 2x2 NHWC forward (direct)", lambda a: fastconv.conv2d(a, w, b, layout="NHWC"), x)
    compare("mnist 1x6 2x2 NHWC weight gradient (direct)",
            lambda a: fastconv.conv2d_backward(gy, a, w, layout="NHWC", need_input=False), x)
    x, w, b, gy = SHAPES_BY_ID["lenet_1x6_5x5"].arrays("NCHW")
    compare("lenet 1x6 5x5 NCHW forward (direct, shifted)", lambda a: fastconv.conv2d(a, w, b, padding=2), x)
    compare("lenet 1x6 5x5 NCHW weight gradient (shifted)",
            lambda a: fastconv.conv2d_backward(gy, a, w, padding=2, need_input=False), x)
    x, w, b, gy = SHAPES_BY_ID["lenet_6x16_5x5"].arrays("NCHW")
    compare("lenet 6x16 5x5 NCHW input gradient (gemm, gathered, gy)",
            lambda a: fastconv.conv2d_backward(a, x, w, need_weight=False, need_bias=False), gy)
    x, w, b, gy = SHAPES_BY_ID["lenet_6x16_5x5"].arrays("NHWC")
    compare("lenet 6x16 5x5 NHWC forward (direct, runs)", lambda a: fastconv.conv2d(a, w, b, layout="NHWC"), x)
    compare("lenet 6x16 5x5 NHWC weight gradient (direct, runs)",
            lambda a: fastconv.conv2d_backward(gy, a, w, layout="NHWC", need_input=False), x)
    x, w, b, gy = SHAPES_BY_ID["resnet_64_3x3"].arrays("NHWC")
    kw = dict(layout="NHWC", padding=1)
    compare("resnet_64 3x3 NHWC forward (winograd)", lambda a: fastconv.conv2d(a, w, b, **kw), x)
    compare("resnet_64 3x3 NHWC input gradient (winograd, gy)",
            lambda a: fastconv.conv2d_backward(a, x, w, need_weight=False, need_bias=False, **kw), gy)
    compare("resnet_64 3x3 NHWC weight gradient (winograd)",
            lambda a: fastconv.conv2d_backward(gy, a, w, need_input=False, need_bias=False, **kw), x)
    compare("resnet_64 3x3 NHWC weight gradient (winograd, gy)",
            lambda a: fastconv.conv2d_backward(a, x, w, need_input=False, need_bias=False, **kw), gy)
    compare("resnet_64 3x3 NHWC weight gradient (gemm)",
            lambda a: fastconv.conv2d_backward(gy, a, w, need_input=False, need_bias=False, algorithm="gemm", **kw), x)
    x, w, b, gy = SHAPES_BY_ID["resnet_64_3x3"].arrays("NCHW")
    compare("resnet_64 3x3 NCHW weight gradient (winograd)",
            lambda a: fastconv.conv2d_backward(gy, a, w, padding=1, need_input=False, need_bias=False), x)
    compare("resnet_64 3x3 NCHW weight gradient (gemm)",
            lambda a: fastconv.conv2d_backward(gy, a, w, padding=1, need_input=False, need_bias=False,
                                               algorithm="gemm"), x)
    x, w, b, gy = SHAPES_BY_ID["resnet_256x64_1x1"].arrays("NHWC")  # x^T read in place by the microkernel
    compare("resnet 1x1 256->64 NHWC weight gradient (gemm, x)",
            lambda a: fastconv.conv2d_backward(gy, a, w, layout="NHWC", need_input=False, need_bias=False), x)
    compare("resnet 1x1 256->64 NHWC weight gradient (gemm, gy)",
            lambda a: fastconv.conv2d_backward(a, x, w, layout="NHWC", need_input=False, need_bias=False), gy)
    x, w, b, gy = SHAPES_BY_ID["resnet_512_3x3"].arrays("NHWC")  # 32 tiles: weights transformed block by block
    compare("resnet_512 3x3 NHWC forward (winograd, x)", lambda a: fastconv.conv2d(a, w, b, **kw), x)
    compare("resnet_512 3x3 NHWC forward (winograd, w)", lambda a: fastconv.conv2d(x, a, b, **kw), w)
    x, w, b, gy = SHAPES_BY_ID["depthwise_32_3x3"].arrays("NCHW")  # the plane sweep (AVX-512)
    kw = dict(padding=1, groups=32)
    compare("depthwise 3x3 NCHW forward (direct)", lambda a: fastconv.conv2d(a, w, b, **kw), x)
    compare("depthwise 3x3 NCHW weight gradient (direct)",
            lambda a: fastconv.conv2d_backward(gy, a, w, need_input=False, need_bias=False, **kw), x)
    x, w, b, gy = SHAPES_BY_ID["depthwise_32_3x3"].arrays("NHWC")  # the pixel sweep
    kw = dict(padding=1, groups=32, layout="NHWC")
    compare("depthwise 3x3 NHWC forward (direct)", lambda a: fastconv.conv2d(a, w, b, **kw), x)
    compare("depthwise 3x3 NHWC weight gradient (direct)",
            lambda a: fastconv.conv2d_backward(gy, a, w, need_input=False, need_bias=False, **kw), x)
    rng = np.random.default_rng(0)
    dense_x = rng.standard_normal((1, 32, 1, 1014)).astype(np.float32)  # the MNIST dense layer as a 1x1 conv
    dense_w, dense_gy = rng.standard_normal((1, 1, 1014, 10)).astype(np.float32), np.ones((1, 32, 1, 10), np.float32)
    compare("dense 1014 -> 10 forward (gemm, skinny)", lambda a: fastconv.conv2d(a, dense_w, layout="NHWC"), dense_x)
    compare("dense 1014 -> 10 backward (gemm, skinny)",
            lambda a: fastconv.conv2d_backward(dense_gy, a, dense_w, layout="NHWC"), dense_x)
    pool = rng.standard_normal((32, 27, 27, 6)).astype(np.float32)
    compare("max pool 2x2 NHWC 6 channels", lambda a: fastconv.max_pool2d(a, 2, layout="NHWC", return_indices=True),
            pool)
    stem = dict(stride=2, padding=1, return_indices=True)  # the ResNet stem's pooling, on 2 images
    stem_nhwc = rng.standard_normal((2, 112, 112, 64)).astype(np.float32)
    compare("max pool 3x3/2 NHWC 64 channels", lambda a: fastconv.max_pool2d(a, 3, layout="NHWC", **stem), stem_nhwc)
    stem_nchw = np.ascontiguousarray(stem_nhwc.transpose(0, 3, 1, 2))
    compare("max pool 3x3/2 NCHW 64 channels", lambda a: fastconv.max_pool2d(a, 3, **stem), stem_nchw)
    _, stem_idx = fastconv.max_pool2d(stem_nhwc, 3, layout="NHWC", **stem)
    compare("max pool 3x3/2 NHWC backward (grad_y)",
            lambda a: fastconv.max_pool2d_backward(a, stem_idx, stem_nhwc.shape, layout="NHWC"),
            rng.standard_normal(stem_idx.shape).astype(np.float32))
    tiny_x, tiny_w = np.ones((1, 1, 4, 4), np.float32), np.ones((1, 1, 2, 2), np.float32)
    n = 20000
    conv = min(timeit.repeat(lambda: fastconv.conv2d(tiny_x, tiny_w), number=n, repeat=5)) / n
    pool = min(timeit.repeat(lambda: fastconv.max_pool2d(tiny_x, 2), number=n, repeat=5)) / n
    print(f"tiny conv2d call {conv * 1e6:.1f} us, tiny max_pool2d call {pool * 1e6:.1f} us")


if __name__ == "__main__":
    main()
