"""fastconv.conv2d and conv2d_backward against the NumPy reference, on every ISA path, both layouts and dtypes."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fastconv
from cases import CASES
from cases import case as conv_case
from fastconv import reference
from gradcheck import assert_grad
from helpers import assert_close, isa_and_threads, to_layout

LAYOUTS = ["NCHW", "NHWC"]
DTYPES = [np.float32, np.float64]


ALGORITHMS = ["auto", "gemm", "direct", "winograd"]
# Winograd's transforms (F(4x4, 3x3) or F(6x6, 3x3)) scale values by up to ~10 before they are summed back: its
# float32 error is that many times a GEMM's (benchmarks/RESULTS.md gives the measured error).
WINOGRAD_ERROR = 10


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def winograd_fits(r, s, kwargs):
    return ((r, s) == (3, 3) and _pair(kwargs.get("stride", 1)) == (1, 1) and _pair(kwargs.get("dilation", 1)) == (1, 1)
            and kwargs.get("groups", 1) == 1)


def applies(case, algorithm):
    """Whether an explicit algorithm applies to the case ("direct": dense or depthwise shapes; "winograd": 3x3,
    stride 1, dilation 1, groups 1)."""
    if algorithm == "winograd":
        return winograd_fits(case.r, case.s, case.kwargs)
    return algorithm != "direct" or case.groups == 1 or case.c == case.groups


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_conv2d_matches_reference(case, dtype, layout, algorithm, isa, rng):
    if not applies(case, algorithm):
        pytest.skip(f"{algorithm} does not apply to this shape")
    x, w, b = case.arrays(rng, dtype, layout)
    kw = dict(case.kwargs, layout=layout, algorithm=algorithm)
    reduction = case.reduction * (WINOGRAD_ERROR if algorithm == "winograd" else 1)
    assert_close(fastconv.conv2d(x, w, b, **kw), reference.conv2d(x, w, b, **kw), reduction)
    assert_close(fastconv.conv2d(x, w, **kw), reference.conv2d(x, w, **kw), reduction)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_conv2d_backward_matches_reference(case, dtype, layout, algorithm, isa, rng):
    if not applies(case, algorithm):
        pytest.skip(f"{algorithm} does not apply to this shape")
    x, w, _ = case.arrays(rng, dtype, layout)
    kw = dict(case.kwargs, layout=layout, algorithm=algorithm)
    g = rng.standard_normal(reference.conv2d(x, w, **kw).shape).astype(dtype)
    got = fastconv.conv2d_backward(g, x, w, **kw)
    want = reference.conv2d_backward(g, x, w, **kw)
    pixels = g.size // max(g.shape[3 if layout == "NHWC" else 1], 1)  # N * P * Q
    k_per_group = case.k // case.groups
    error = WINOGRAD_ERROR if algorithm == "winograd" else 1
    assert_close(got[0], want[0], k_per_group * case.r * case.s * error)
    assert_close(got[1], want[1], max(pixels, 1) * error)
    assert_close(got[2], want[2], max(pixels, 1))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", [c for c in CASES if c.n > 0 and c.h * c.w <= 100], ids=lambda c: c.id)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_backward_is_adjoint_of_forward(case, layout, algorithm, rng):
    """<conv(x; w), g> == <x, bwd_data(g)> == <w, bwd_weight(x, g)>: no finite differences needed."""
    if not applies(case, algorithm):
        pytest.skip(f"{algorithm} does not apply to this shape")
    x, w, _ = case.arrays(rng, np.float64, layout)
    kw = dict(case.kwargs, layout=layout, algorithm=algorithm)
    y = fastconv.conv2d(x, w, **kw)
    g = rng.standard_normal(y.shape)
    gx, gw, _ = fastconv.conv2d_backward(g, x, w, need_bias=False, **kw)
    assert np.isclose(np.vdot(y, g), np.vdot(x, gx), rtol=1e-10)
    assert np.isclose(np.vdot(y, g), np.vdot(w, gw), rtol=1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding="same", dilation=1), dict(groups=2, dilation=2),
                                dict(padding=((1, 0), (0, 2)), stride=(1, 2)), dict(algorithm="direct"),
                                dict(algorithm="direct", padding=((2, 0), (1, 3)), dilation=(2, 1)),
                                dict(algorithm="direct", stride=(2, 3), padding="same")], ids=str)
def test_conv2d_backward_matches_finite_differences(kw, layout, isa, rng):
    x = rng.standard_normal((2, 5, 5, 4) if layout == "NHWC" else (2, 4, 5, 5))
    cg = 4 // kw.get("groups", 1)
    w = rng.standard_normal((2, 3, cg, 4) if layout == "NHWC" else (4, cg, 2, 3))
    b = rng.standard_normal(4)
    g = rng.standard_normal(fastconv.conv2d(x, w, layout=layout, **kw).shape)

    def loss():
        return float(np.vdot(fastconv.conv2d(x, w, b, layout=layout, **kw), g))

    gx, gw, gb = fastconv.conv2d_backward(g, x, w, layout=layout, **kw)
    assert_grad(gx, loss, x)
    assert_grad(gw, loss, w)
    assert_grad(gb, loss, b)


RELU_CASES = [CASES[3]] + [c for c in CASES if c.id.startswith("dense_")]  # and the skinny products' own epilogue


@pytest.mark.parametrize("algorithm", ["auto", "gemm"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", RELU_CASES, ids=lambda c: c.id)
def test_fused_relu_matches_reference_and_keeps_nan(case, layout, algorithm, isa, rng):
    x, w, b = case.arrays(rng, np.float32, layout)
    x.reshape(-1)[5] = np.nan
    kw = dict(case.kwargs, layout=layout, algorithm=algorithm)
    got = fastconv.conv2d(x, w, b, activation="relu", **kw)
    want = reference.conv2d(x, w, b, activation="relu", **kw)
    assert_close(got, want, case.reduction)
    assert np.isnan(got).any() and (got[~np.isnan(got)] >= 0).all() and (got == 0).any()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_out_is_filled_and_returned(dtype, rng):
    x, w, b = CASES[5].arrays(rng, dtype)
    out = np.full(reference.conv2d(x, w).shape, np.nan, dtype)  # NaN: any unwritten element fails
    got = fastconv.conv2d(x, w, b, out=out)
    assert got is out
    assert_close(out, reference.conv2d(x, w, b), CASES[5].reduction)


def test_non_contiguous_inputs_are_accepted(rng):
    x = rng.standard_normal((2, 3, 9, 16))[:, :, ::2, ::2]
    w = rng.standard_normal((4, 3, 3, 2)).transpose(0, 1, 3, 2)  # reversed strides
    b = rng.standard_normal(8)[::2]
    assert_close(fastconv.conv2d(x, w, b, padding=1), reference.conv2d(x, w, b, padding=1), 3 * 6)


def test_read_only_inputs_are_accepted(rng):
    x, w, b = CASES[5].arrays(rng, np.float64)
    for a in (x, w, b):
        a.flags.writeable = False
    assert_close(fastconv.conv2d(x, w, b), reference.conv2d(x, w, b), CASES[5].reduction)


def test_batch0_gives_empty_output_and_zero_weight_grads(rng):
    x = np.zeros((0, 3, 5, 5), np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = fastconv.conv2d(x, w)
    assert y.shape == (0, 4, 3, 3)
    gx, gw, gb = fastconv.conv2d_backward(y, x, w)
    assert gx.shape == x.shape and not gw.any() and not gb.any()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_auto_picks_direct_for_few_channels_and_gemm_for_many(layout, rng):
    """auto's choice is one of the explicit algorithms, bit for bit (see csrc/operators/algorithm.cpp)."""
    nhwc = layout == "NHWC"
    for (c, k, r), expected in [((1, 6, 2), "direct"), ((32, 64, 3), "gemm")]:
        x = rng.standard_normal((2, 9, 9, c) if nhwc else (2, c, 9, 9))
        w = rng.standard_normal((r, r, c, k) if nhwc else (k, c, r, r))
        b = rng.standard_normal(k)
        y = fastconv.conv2d(x, w, b, layout=layout)
        np.testing.assert_array_equal(y, fastconv.conv2d(x, w, b, layout=layout, algorithm=expected))
        g = rng.standard_normal(y.shape)
        got = fastconv.conv2d_backward(g, x, w, layout=layout, need_input=False, need_bias=False)[1]
        want = fastconv.conv2d_backward(g, x, w, layout=layout, need_input=False, need_bias=False,
                                        algorithm=expected)[1]
        np.testing.assert_array_equal(got, want)


@st.composite
def conv_problems(draw):
    g = draw(st.integers(1, 3))
    c, k = g * draw(st.integers(1, 3)), g * draw(st.integers(1, 4))
    r, s = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"]),
                             st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                                       st.tuples(st.integers(0, 2), st.integers(0, 2)))))
    n = draw(st.integers(0, 3))
    layout = draw(st.sampled_from(LAYOUTS))
    dtype = draw(st.sampled_from(DTYPES))
    algorithm = draw(st.sampled_from(["auto", "gemm", "direct"] if g == 1 or c == g else ["auto", "gemm"]))
    kw = dict(stride=stride, dilation=dilation, padding=padding, groups=g, layout=layout, algorithm=algorithm)
    return n, c, h, w, k, r, s, kw, dtype


def _fits(h, w, r, s, kw):
    from fastconv import _args
    (pt, pb), (pl, pr) = _args.conv_padding("t", kw["padding"], (h, w), (r, s), kw["stride"], kw["dilation"])
    return h + pt + pb >= kw["dilation"][0] * (r - 1) + 1 and w + pl + pr >= kw["dilation"][1] * (s - 1) + 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=conv_problems(), seed=st.integers(0, 2**32 - 1))
def test_conv2d_property_based(problem, seed):
    n, c, h, w, k, r, s, kw, dtype = problem
    assume(_fits(h, w, r, s, kw))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c) if kw["layout"] == "NHWC" else (n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((r, s, c // kw["groups"], k) if kw["layout"] == "NHWC" else (k, c // kw["groups"], r, s))
    wt = wt.astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    red = c // kw["groups"] * r * s
    y = fastconv.conv2d(x, wt, b, **kw)
    assert_close(y, reference.conv2d(x, wt, b, **kw), red)
    g = rng.standard_normal(y.shape).astype(dtype)
    got, want = fastconv.conv2d_backward(g, x, wt, **kw), reference.conv2d_backward(g, x, wt, **kw)
    for a, e in zip(got, want):
        assert_close(a, e, max(red, g.size))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 3), c=st.integers(1, 40), k=st.integers(1, 40), h=st.integers(1, 13), w=st.integers(1, 13),
       padding=st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"])), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(DTYPES), relu=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_winograd_property_based(n, c, k, h, w, padding, layout, dtype, relu, seed):
    """Any 3x3 stride-1 shape: partial tiles at the bottom/right, padding, channel tails of every vector width."""
    assume(_fits(h, w, 3, 3, dict(padding=padding, stride=(1, 1), dilation=(1, 1))))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c) if layout == "NHWC" else (n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((3, 3, c, k) if layout == "NHWC" else (k, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    kw = dict(padding=padding, layout=layout, activation="relu" if relu else None)
    got = fastconv.conv2d(x, wt, b, algorithm="winograd", **kw)
    assert_close(got, reference.conv2d(x, wt, b, **kw), c * 9 * WINOGRAD_ERROR)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 3), c=st.integers(1, 40), k=st.integers(1, 40), h=st.integers(1, 13), w=st.integers(1, 13),
       padding=st.one_of(st.integers(0, 3), st.sampled_from(["same", "valid"])), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_winograd_backward_property_based(n, c, k, h, w, padding, layout, dtype, seed):
    """Both gradients by Winograd on any 3x3 stride-1 shape: partial gy tiles, padding past the kernel's reach
    (input gradient), channel tails, no images."""
    assume(_fits(h, w, 3, 3, dict(padding=padding, stride=(1, 1), dilation=(1, 1))))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c) if layout == "NHWC" else (n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((3, 3, c, k) if layout == "NHWC" else (k, c, 3, 3)).astype(dtype)
    kw = dict(padding=padding, layout=layout)
    g = rng.standard_normal(reference.conv2d(x, wt, **kw).shape).astype(dtype)
    got = fastconv.conv2d_backward(g, x, wt, algorithm="winograd", **kw)
    want = reference.conv2d_backward(g, x, wt, **kw)
    assert_close(got[0], want[0], k * 9 * WINOGRAD_ERROR)
    assert_close(got[1], want[1], max(g.size // k, 1) * WINOGRAD_ERROR)
    assert_close(got[2], want[2], max(g.size // k, 1))


# Winograd in its three ways of splitting work: 64 -> 64 channels (36 x C x K transformed weights or sums small
# enough for each thread to take whole parts of the tiles) on 2 x 48 x 48 (288 tiles: each thread's 144 in several
# blocks); 96 -> 96 (threads share each block) on 40 x 40 (100 tiles, weight-gradient blocks of 75): the weight
# gradient's sums carried across blocks; and 150 -> 72 on 2 x 14 x 14 (32 tiles: the forward and input gradient
# stream their weights, block by block of input and output channels, with a tail block of each; the weight
# gradient makes its sums by blocks of channels, as one block of tiles holds them all); and NCHW 32 -> 24
# on 9 x 44 x 44 (image by image: 9 images split 9, 4 + 5 and 3 x 3 over the threads, taken a few at a time, the
# last few of a thread fewer; 121 tiles an image, the weight gradient's sums carried across blocks and images);
# 16 -> 100 (the weight gradient's U in the GEMM's panels, more than 2 of them, the last one partial). Every pass,
# on 1, 2 and 3 threads.
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n,c,k,hw", [(2, 64, 64, 48), (1, 96, 96, 40), (2, 150, 72, 14), (9, 32, 24, 44),
                                     (2, 16, 100, 24)],
                         ids=["parts", "shared-blocks", "streamed", "images", "panels"])
def test_winograd_over_many_blocks(n, c, k, hw, layout, threads, rng):
    nhwc = layout == "NHWC"
    x = rng.standard_normal((n, hw, hw, c) if nhwc else (n, c, hw, hw)).astype(np.float32)
    w = rng.standard_normal((3, 3, c, k) if nhwc else (k, c, 3, 3)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    kw = dict(padding=1, layout=layout)
    g = rng.standard_normal(reference.conv2d(x, w, **kw).shape).astype(np.float32)
    before = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(threads)
        y = fastconv.conv2d(x, w, b, algorithm="winograd", **kw)
        gx, gw, _ = fastconv.conv2d_backward(g, x, w, algorithm="winograd", need_bias=False, **kw)
        again = fastconv.conv2d_backward(g, x, w, algorithm="winograd", need_bias=False, **kw)
        assert np.array_equal(gw, again[1]) and np.array_equal(gx, again[0])  # repeatable
    finally:
        fastconv.set_num_threads(before)
    want_gx, want_gw, _ = reference.conv2d_backward(g, x, w, need_bias=False, **kw)
    assert_close(y, reference.conv2d(x, w, b, **kw), c * 9 * WINOGRAD_ERROR)
    assert_close(gx, want_gx, k * 9 * WINOGRAD_ERROR)
    assert_close(gw, want_gw, g.size // k * WINOGRAD_ERROR)


# The NHWC 1x1 weight gradient reads x^T in place (StepMajor, prefetching the next block) on every ISA: channel
# counts that leave row tails and several column panels, pixel counts over several blocks and GEMM chunks.
@settings(max_examples=40, deadline=None)
@given(isa=st.sampled_from(fastconv._C.available_isas()), n=st.integers(1, 3), h=st.integers(1, 40),
       w=st.integers(1, 40), cg=st.integers(1, 70), kg=st.integers(1, 140), groups=st.sampled_from([1, 2]),
       dtype=st.sampled_from(DTYPES), threads=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_pointwise_nhwc_weight_gradient_property_based(isa, n, h, w, cg, kg, groups, dtype, threads, seed):
    rng = np.random.default_rng(seed)
    c, k = cg * groups, kg * groups
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = rng.standard_normal((1, 1, cg, k)).astype(dtype)
    g = rng.standard_normal((n, h, w, k)).astype(dtype)
    kw = dict(groups=groups, layout="NHWC", need_input=False)
    with isa_and_threads(isa, threads):
        got = fastconv.conv2d_backward(g, x, wt, algorithm="gemm", **kw)
    want = reference.conv2d_backward(g, x, wt, **kw)
    for a, e in zip(got[1:], want[1:]):
        assert_close(a, e, n * h * w)


# The GEMM forward adds the bias and applies relu in each register tile after its last K block: reductions over
# several K blocks (taps past 256), row and column tails (edge tiles run in scratch), every tile width, both layouts.
@settings(max_examples=40, deadline=None)
@given(isa=st.sampled_from(fastconv._C.available_isas()), n=st.integers(1, 2), hw=st.integers(1, 9),
       c=st.integers(1, 70), k=st.integers(1, 140), rs=st.sampled_from([1, 3]), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(DTYPES), bias=st.booleans(), relu=st.booleans(), threads=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1))
def test_gemm_forward_epilogue_property_based(isa, n, hw, c, k, rs, layout, dtype, bias, relu, threads, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, hw, hw, c) if layout == "NHWC" else (n, c, hw, hw)).astype(dtype)
    wt = rng.standard_normal((rs, rs, c, k) if layout == "NHWC" else (k, c, rs, rs)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype) if bias else None
    kw = dict(padding=rs // 2, layout=layout, activation="relu" if relu else None)
    with isa_and_threads(isa, threads):
        got = fastconv.conv2d(x, wt, b, algorithm="gemm", **kw)
    assert_close(got, reference.conv2d(x, wt, b, **kw), c * rs * rs)


# The streamed forward and input gradient (few tiles, many weights) on every ISA in both precisions: channel counts
# that leave a tail in every block (input channels past 128 and past a run of 32, output channels past 32).
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_streamed_on_every_isa(isa, dtype, layout, rng):
    nhwc = layout == "NHWC"
    c, k = 150, 72
    x = rng.standard_normal((1, 9, 10, c) if nhwc else (1, c, 9, 10)).astype(dtype)
    w = rng.standard_normal((3, 3, c, k) if nhwc else (k, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    kw = dict(padding=1, layout=layout)
    y = fastconv.conv2d(x, w, b, algorithm="winograd", **kw)
    assert_close(y, reference.conv2d(x, w, b, **kw), c * 9 * WINOGRAD_ERROR)
    g = rng.standard_normal(y.shape).astype(dtype)
    gx = fastconv.conv2d_backward(g, x, w, algorithm="winograd", need_weight=False, need_bias=False, **kw)[0]
    assert_close(gx, reference.conv2d_backward(g, x, w, need_weight=False, need_bias=False, **kw)[0],
                 k * 9 * WINOGRAD_ERROR)


# The weight gradient where one block of tiles holds them all and the 36 x C x K sums do not fit a thread's caches:
# the sums made and transformed a block of 64 input x 128 output channels at a time, tails in both, on every ISA.
@pytest.mark.parametrize("c,k", [(150, 72), (72, 150)])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_weight_gradient_by_channel_blocks_on_every_isa(isa, dtype, layout, c, k, rng):
    nhwc = layout == "NHWC"
    x = rng.standard_normal((2, 9, 10, c) if nhwc else (2, c, 9, 10)).astype(dtype)
    w = rng.standard_normal((3, 3, c, k) if nhwc else (k, c, 3, 3)).astype(dtype)
    kw = dict(padding=1, layout=layout, need_input=False, need_bias=False)
    g = rng.standard_normal((2, 9, 10, k) if nhwc else (2, k, 9, 10)).astype(dtype)
    gw = fastconv.conv2d_backward(g, x, w, algorithm="winograd", **kw)[1]
    assert_close(gw, reference.conv2d_backward(g, x, w, **kw)[1], 2 * 9 * 10 * WINOGRAD_ERROR)


# The input gradient by tiles of y (fewer than the forward of gy takes over gx: valid or one-sided padding), on every
# ISA, with its overlapping 6x6 windows added across tile rows, columns and blocks (4 images of 36 tiles over 2
# threads: blocks end inside an image), and where it does not apply (3 images on 2 threads: the forward of gy).
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, threads", [(4, 2), (3, 2), (3, 1)])
@pytest.mark.parametrize("hw, padding", [((26, 26), "valid"), ((10, 13), (1, 0)), ((9, 13), ((0, 1), (1, 0)))])
def test_winograd_input_grad_by_output_tiles_on_every_isa(isa, dtype, layout, n, threads, hw, padding, rng):
    nhwc = layout == "NHWC"
    c, k = 19, 24
    x = rng.standard_normal((n, *hw, c) if nhwc else (n, c, *hw)).astype(dtype)
    w = rng.standard_normal((3, 3, c, k) if nhwc else (k, c, 3, 3)).astype(dtype)
    kw = dict(padding=padding, layout=layout)
    g = rng.standard_normal(reference.conv2d(x, w, **kw).shape).astype(dtype)
    with isa_and_threads(isa, threads):
        gx = fastconv.conv2d_backward(g, x, w, algorithm="winograd", need_weight=False, need_bias=False, **kw)[0]
    assert_close(gx, reference.conv2d_backward(g, x, w, need_weight=False, need_bias=False, **kw)[0],
                 k * 9 * WINOGRAD_ERROR)


# The same where NCHW images are too big to take one at a time (on NHWC copies of the whole tensors) and where the
# transformed weights (36 x 90 x 90) are too big for the threads' caches.
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c, k, hw", [(3, 5, (201, 201)), (90, 90, (6, 6))])
def test_winograd_input_grad_by_output_tiles_big_images_or_weights(isa, dtype, layout, c, k, hw, rng):
    nhwc = layout == "NHWC"
    x = rng.standard_normal((2, *hw, c) if nhwc else (2, c, *hw)).astype(dtype)
    w = rng.standard_normal((3, 3, c, k) if nhwc else (k, c, 3, 3)).astype(dtype)
    kw = dict(padding="valid", layout=layout)
    g = rng.standard_normal(reference.conv2d(x, w, **kw).shape).astype(dtype)
    with isa_and_threads(isa, 2):
        gx = fastconv.conv2d_backward(g, x, w, algorithm="winograd", need_weight=False, need_bias=False, **kw)[0]
    assert_close(gx, reference.conv2d_backward(g, x, w, need_weight=False, need_bias=False, **kw)[0],
                 k * 9 * WINOGRAD_ERROR)


# F(6x6, 3x3), which runs where its tiles take at most 80% of F(4x4)'s points (12x12 outputs: 4 tiles of 64 points
# against 9 of 36; 11x11: 4 partial tiles), in every pass on every ISA: the input gradient by tiles of y (valid
# padding, 2 images on 2 threads) and as the forward of gy (padding 1, 12x12: gx's tiles are y's).
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hw, padding", [((14, 14), "valid"), ((13, 13), "valid"), ((12, 12), 1)])
def test_winograd_6x6_tiles_on_every_isa(isa, dtype, layout, hw, padding, rng):
    nhwc = layout == "NHWC"
    c, k = 21, 18
    x = rng.standard_normal((2, *hw, c) if nhwc else (2, c, *hw)).astype(dtype)
    w = rng.standard_normal((3, 3, c, k) if nhwc else (k, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    kw = dict(padding=padding, layout=layout)
    with isa_and_threads(isa, 2):
        y = fastconv.conv2d(x, w, b, algorithm="winograd", **kw)
        g = rng.standard_normal(y.shape).astype(dtype)
        gx, gw, _ = fastconv.conv2d_backward(g, x, w, algorithm="winograd", need_bias=False, **kw)
    assert_close(y, reference.conv2d(x, w, b, **kw), c * 9 * WINOGRAD_ERROR)
    want_gx, want_gw, _ = reference.conv2d_backward(g, x, w, need_bias=False, **kw)
    assert_close(gx, want_gx, k * 9 * WINOGRAD_ERROR)
    assert_close(gw, want_gw, g.size // k * WINOGRAD_ERROR)


def test_winograd_is_refused_where_it_does_not_apply():
    x = np.zeros((1, 4, 6, 6))
    for w, kw in [(np.zeros((4, 4, 5, 5)), {}), (np.zeros((4, 4, 3, 3)), dict(stride=2)),
                  (np.zeros((4, 4, 3, 3)), dict(dilation=2)), (np.zeros((4, 2, 3, 3)), dict(groups=2))]:
        with pytest.raises(ValueError, match="algorithm 'winograd' applies to 3x3 kernels"):
            fastconv.conv2d(x, w, algorithm="winograd", **kw)
        with pytest.raises(ValueError, match="algorithm 'winograd' applies to 3x3 kernels"):
            fastconv.conv2d_backward(fastconv.conv2d(x, w, **kw), x, w, algorithm="winograd", **kw)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_auto_picks_winograd_for_3x3_layers_with_many_tiles(layout, rng):
    nhwc = layout == "NHWC"
    x = rng.standard_normal((2, 16, 16, 32) if nhwc else (2, 32, 16, 16)).astype(np.float32)
    w = rng.standard_normal((3, 3, 32, 32) if nhwc else (32, 32, 3, 3)).astype(np.float32)
    y = fastconv.conv2d(x, w, padding=1, layout=layout)
    np.testing.assert_array_equal(y, fastconv.conv2d(x, w, padding=1, layout=layout, algorithm="winograd"))
    # The input gradient of such a layer is a forward of the same kind, which auto also runs by Winograd.
    g = rng.standard_normal(y.shape).astype(np.float32)
    gx = fastconv.conv2d_backward(g, x, w, padding=1, layout=layout, need_weight=False, need_bias=False)[0]
    gx_gemm = fastconv.conv2d_backward(g, x, w, padding=1, layout=layout, need_weight=False, need_bias=False,
                                       algorithm="gemm")[0]
    assert not np.array_equal(gx, gx_gemm)  # a different algorithm ran
    want = reference.conv2d_backward(g, x, w, padding=1, layout=layout, need_weight=False, need_bias=False)[0]
    assert_close(gx, want, 32 * 9 * WINOGRAD_ERROR)
    # And the weight gradient (tiles enough for its GEMMs over the tiles): the same as an explicit "winograd".
    gw = fastconv.conv2d_backward(g, x, w, padding=1, layout=layout, need_input=False, need_bias=False)[1]
    gw_winograd = fastconv.conv2d_backward(g, x, w, padding=1, layout=layout, need_input=False, need_bias=False,
                                           algorithm="winograd")[1]
    np.testing.assert_array_equal(gw, gw_winograd)
    assert not np.array_equal(gw, fastconv.conv2d_backward(g, x, w, padding=1, layout=layout, need_input=False,
                                                           need_bias=False, algorithm="gemm")[1])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), split=st.integers(1, 3))
def test_conv2d_is_linear_and_commutes_with_batch_slicing(seed, split):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.standard_normal((2, 4, 3, 7, 6))
    w1, w2 = rng.standard_normal((2, 5, 3, 3, 2))
    kw = dict(padding=1, stride=(1, 2))
    conv = fastconv.conv2d
    np.testing.assert_allclose(conv(2 * x1 + x2, w1, **kw), 2 * conv(x1, w1, **kw) + conv(x2, w1, **kw), atol=1e-10)
    np.testing.assert_allclose(conv(x1, w1 - 3 * w2, **kw), conv(x1, w1, **kw) - 3 * conv(x1, w2, **kw), atol=1e-10)
    np.testing.assert_allclose(conv(x1[split:], w1, **kw), conv(x1, w1, **kw)[split:], atol=1e-12)


DEPTHWISE = [c for c in CASES if c.groups > 1 and c.c == c.groups]


@pytest.mark.parametrize("algorithm", ["direct", "gemm"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", DEPTHWISE + [
    conv_case("dw_stride2_dil2_mult2", c=5, k=10, groups=5, stride=2, dilation=2, padding=2, h=11, w=10),
    conv_case("dw_same_rect", c=3, k=3, groups=3, padding="same", r=2, s=5, h=6, w=9),
], ids=lambda c: c.id)
def test_depthwise_algorithms_match_reference(case, layout, algorithm, rng):
    assert case.c == case.groups
    x, w, b = case.arrays(rng, np.float64, layout)
    kw = dict(case.kwargs, layout=layout)
    got = fastconv.conv2d(x, w, b, activation="relu", algorithm=algorithm, **kw)
    assert_close(got, reference.conv2d(x, w, b, activation="relu", **kw), case.reduction)


def check_depthwise_3x3_every_pass(x, layout, pad, bias, relu, isa, threads, rng):
    """A depthwise 3x3 layer on x (no channel multiplier, unit stride) with the direct algorithm on `isa` and
    `threads`: forward (bias, relu as asked), input, weight and bias gradients against the reference."""
    channels = x.shape[3 if layout == "NHWC" else 1]
    wt = rng.standard_normal((3, 3, 1, channels) if layout == "NHWC" else (channels, 1, 3, 3)).astype(x.dtype)
    b = rng.standard_normal(channels).astype(x.dtype) if bias else None
    kw = dict(padding=pad, groups=channels, layout=layout)
    act = dict(activation="relu" if relu else None)
    with isa_and_threads(isa, threads):
        y = fastconv.conv2d(x, wt, b, algorithm="direct", **kw, **act)
        g = rng.standard_normal(y.shape).astype(x.dtype)
        got = fastconv.conv2d_backward(g, x, wt, algorithm="direct", need_bias=bias, **kw)
    assert_close(y, reference.conv2d(x, wt, b, **kw, **act), 9)
    want = reference.conv2d_backward(g, x, wt, need_bias=bias, **kw)
    pixels = y.size // channels  # the weight and bias gradients sum over every output pixel
    assert_close(got[0], want[0], 9)
    assert_close(got[1], want[1], pixels)
    if bias:
        assert_close(got[2], want[2], pixels)


# One-channel 3x3 NCHW planes at unit stride (depthwise without a channel multiplier, or a 1 -> 1 layer) run the
# plane sweep on AVX-512 (csrc/kernels/direct_sweep.h), in bands of rows sized to L1 where the planes are narrow:
# tall planes (several bands), widths leaving a partial last vector, one to three groups of column vectors (whole
# rows of up to 7 vectors; a middle group without masks from 15 vectors, 240 float columns), paddings that make
# the input gradient's forward padding 0, 1 or 2, and paddings wider than a vector (groups whose inner vectors
# reach outside, run vector by vector); every pass, bias and relu, every ISA.
@settings(max_examples=40, deadline=None)
@given(isa=st.sampled_from(fastconv._C.available_isas()), n=st.integers(1, 2), channels=st.sampled_from([1, 3]),
       h=st.integers(1, 150), w=st.one_of(st.integers(1, 90), st.integers(91, 260)),
       pad=st.sampled_from([0, 1, 2, ((2, 0), (0, 1)), ((1, 0), (9, 17)), ((0, 1), (17, 3))]),
       dtype=st.sampled_from(DTYPES), bias=st.booleans(), relu=st.booleans(), threads=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1))
def test_one_channel_3x3_planes_property_based(isa, n, channels, h, w, pad, dtype, bias, relu, threads, seed):
    rng = np.random.default_rng(seed)
    (top, bottom), (left, right) = pad if isinstance(pad, tuple) else ((pad, pad), (pad, pad))
    assume(h + top + bottom >= 3 and w + left + right >= 3)
    x = rng.standard_normal((n, channels, h, w)).astype(dtype)
    check_depthwise_3x3_every_pass(x, "NCHW", pad, bias, relu, isa, threads, rng)


# NHWC depthwise 3x3 layers without a channel multiplier at unit stride run the pixel sweep on every ISA
# (csrc/kernels/direct_pixels.h), reading x in place: channel counts leaving a partial last vector and several
# vectors, widths with and without interior pixel groups, paddings 0-2 and uneven; every pass, bias, relu,
# misaligned x (an offset view), 1-3 threads.
@settings(max_examples=40, deadline=None)
@given(isa=st.sampled_from(fastconv._C.available_isas()), n=st.integers(1, 2), channels=st.integers(1, 40),
       h=st.integers(1, 20), w=st.integers(1, 24), pad=st.sampled_from([0, 1, 2, ((2, 0), (0, 1))]),
       dtype=st.sampled_from(DTYPES), bias=st.booleans(), relu=st.booleans(), offset=st.booleans(),
       threads=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_nhwc_depthwise_3x3_property_based(isa, n, channels, h, w, pad, dtype, bias, relu, offset, threads,
                                           seed):
    rng = np.random.default_rng(seed)
    (top, bottom), (left, right) = pad if isinstance(pad, tuple) else ((pad, pad), (pad, pad))
    assume(h + top + bottom >= 3 and w + left + right >= 3)
    size = n * h * w * channels
    x = rng.standard_normal(size + 1).astype(dtype)[int(offset):][:size].reshape(n, h, w, channels)
    check_depthwise_3x3_every_pass(x, "NHWC", pad, bias, relu, isa, threads, rng)


def check_direct_every_pass(x, wt, b, kw, relu, isa, threads, rng, forward_terms, input_terms, weight_terms):
    """Every pass of a dense or grouped layer by the direct algorithm on `isa` and `threads` (bias where b is given,
    relu as asked) against the reference; the tolerances for sums of forward_terms, input_terms and
    weight_terms(grad_y) terms. A gradient not asked for (the bias's) must come back None."""
    act = dict(activation="relu" if relu else None)
    with isa_and_threads(isa, threads):
        y = fastconv.conv2d(x, wt, b, algorithm="direct", **kw, **act)
        g = rng.standard_normal(y.shape).astype(x.dtype)
        got = fastconv.conv2d_backward(g, x, wt, algorithm="direct", need_bias=b is not None, **kw)
    assert_close(y, reference.conv2d(x, wt, b, **kw, **act), forward_terms)
    want = reference.conv2d_backward(g, x, wt, need_bias=b is not None, **kw)
    assert_close(got[0], want[0], input_terms)
    for a, e in zip(got[1:], want[1:]):
        assert (a is None) == (e is None) and (a is None or assert_close(a, e, weight_terms(g)) is None)


# NHWC rows whose output channels fill one or two vectors a pixel (K = 4 to 32: one or two vectors on every ISA's
# lanes) take a kernel row's 3 or 5 columns of one input channel at once (fwd_run_group, kernels/direct_rows.h;
# the weight gradient wgrad_run_taps where one vector is a pixel, in groups of runs, the last one overlapping the
# one before where the group does not divide the runs), other kernel widths and dilated columns tap by tap: 2-7
# input channels, widths over one to three pixel groups (the last one shorter), uneven padding, stride 2 rows,
# bias and relu; every pass, both layouts, every ISA, 1-3 threads.
@settings(max_examples=60, deadline=None)
@given(isa=st.sampled_from(fastconv._C.available_isas()), n=st.integers(1, 3), c=st.integers(2, 7),
       k=st.sampled_from([4, 8, 16, 32]), h=st.integers(1, 12), w=st.integers(1, 40), r=st.integers(1, 3),
       s=st.sampled_from([3, 5, 3, 5, 2, 7]), dilation=st.sampled_from([(1, 1), (1, 1), (2, 1), (1, 2)]),
       stride=st.sampled_from([(1, 1), (1, 1), (2, 1)]), padding=st.sampled_from([0, 2, ((1, 0), (2, 1))]),
       layout=st.sampled_from(LAYOUTS), dtype=st.sampled_from(DTYPES), bias=st.booleans(), relu=st.booleans(),
       threads=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_direct_kernel_row_runs_property_based(isa, n, c, k, h, w, r, s, dilation, stride, padding, layout, dtype,
                                               bias, relu, threads, seed):
    kw = dict(stride=stride, dilation=dilation, padding=padding, layout=layout)
    assume(_fits(h, w, r, s, kw))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c) if layout == "NHWC" else (n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((r, s, c, k) if layout == "NHWC" else (k, c, r, s)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype) if bias else None
    check_direct_every_pass(x, wt, b, kw, relu, isa, threads, rng, c * r * s, k * r * s, lambda g: g.size // k)


# The runs on every ISA and precision for certain, in NHWC layers: 3- and 5-column kernels, one and two vectors of
# output channels a pixel where the registers allow runs of them (K = 8 on 8 lanes; 16 and 32 on 16), rows of
# 28-30 pixels (groups of 6-12 and a shorter last one); the weight and bias gradients over 6 runs (on AVX-512
# floats, groups of 3 runs of 5 taps, or of 4 runs of 3 with the last group overlapping).
@pytest.mark.parametrize("isa", fastconv._C.available_isas())
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("s", [3, 5])
@pytest.mark.parametrize("k", [4, 8, 16, 32])
def test_direct_kernel_row_runs_every_isa(isa, dtype, s, k, rng):
    kw = dict(padding=((1, 0), (2, 1)), layout="NHWC")
    x = rng.standard_normal((2, 5, 30, 3)).astype(dtype)
    wt = rng.standard_normal((2, s, 3, k)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    with isa_and_threads(isa, 2):
        y = fastconv.conv2d(x, wt, b, algorithm="direct", activation="relu", **kw)
        g = rng.standard_normal(y.shape).astype(dtype)
        _, gw, gb = fastconv.conv2d_backward(g, x, wt, algorithm="direct", need_input=False, **kw)
    assert_close(y, reference.conv2d(x, wt, b, activation="relu", **kw), 6 * s)
    _, want_gw, want_gb = reference.conv2d_backward(g, x, wt, need_input=False, **kw)
    assert_close(gw, want_gw, g.size // k)
    assert_close(gb, want_gb, g.size // k)


# One-channel NCHW rows at unit stride and of fewer than 4 vectors (the MNIST and LeNet first layers, and NCHW
# depthwise planes other than the 3x3 plane sweep's) run as shifted planes (csrc/operators/conv2d_direct.cpp): a
# band taken as one row of rows x Q lanes over S column-shifted copies of its input rows. Widths around the vector
# multiples and the 4-vector limit, 1-3 images (several bands, the last one shorter), kernels of 1-5 columns with
# dilation, uneven padding, channel multipliers; every pass, both layouts, every ISA, 1-3 threads.
@settings(max_examples=60, deadline=None)
@given(isa=st.sampled_from(fastconv._C.available_isas()), n=st.integers(1, 3), groups=st.sampled_from([1, 1, 3]),
       mult=st.integers(1, 7), h=st.integers(1, 40), w=st.integers(1, 72), r=st.integers(1, 5), s=st.integers(1, 5),
       dilation=st.sampled_from([(1, 1), (2, 1), (1, 2)]),
       padding=st.sampled_from([0, 2, "same", ((1, 0), (2, 1))]), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(DTYPES), bias=st.booleans(), relu=st.booleans(), threads=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1))
def test_shifted_planes_property_based(isa, n, groups, mult, h, w, r, s, dilation, padding, layout, dtype, bias,
                                       relu, threads, seed):
    kw = dict(stride=(1, 1), dilation=dilation, padding=padding, groups=groups, layout=layout)
    assume(_fits(h, w, r, s, kw))
    rng = np.random.default_rng(seed)
    k = groups * mult
    x = rng.standard_normal((n, h, w, groups) if layout == "NHWC" else (n, groups, h, w)).astype(dtype)
    wt = rng.standard_normal((r, s, 1, k) if layout == "NHWC" else (k, 1, r, s)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype) if bias else None
    check_direct_every_pass(x, wt, b, kw, relu, isa, threads, rng, r * s, r * s * mult, lambda g: g.size)


# NCHW rows at unit stride split their output channels into blocks of near-equal sizes (fwd_channel_rows and
# wgrad_channel_rows, kernels/direct_rows.h: up to 8 channels a forward block and 6 a weight-gradient block on
# AVX-512 floats, 3 on 8 lanes): channel counts on both sides of one, two and several blocks, one-channel layers
# (shifted planes) and two-channel ones (bands of planar rows), 3x3 and 5x5, and 16 input channels of 5x5 (400
# taps: forward blocks over TAPWISE_WEIGHTS weights read them as the tables lie, smaller ones copied tap by tap);
# every pass, every ISA and precision.
@pytest.mark.parametrize("isa", fastconv._C.available_isas())
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [5, 7, 8, 9, 13, 17, 25, 32])
@pytest.mark.parametrize("c,r", [(1, 3), (1, 5), (2, 3), (16, 5)])
def test_direct_nchw_channel_blocks_every_isa(isa, dtype, k, c, r, rng):
    kw = dict(padding=((1, 0), (2, 1)), layout="NCHW")
    x = rng.standard_normal((2, c, 11, 21)).astype(dtype)
    wt = rng.standard_normal((k, c, r, r)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    check_direct_every_pass(x, wt, b, kw, True, isa, 2, rng, c * r * r, k * r * r, lambda g: g.size // k)


# The GEMM input gradient at unit stride, Col spanning whole images and col2im gathering each gx row in registers
# (csrc/kernels/col2im_rows.h; NHWC through NCHW copies): gx widths around the vector multiples, kernels of 1-7
# columns (each unrolled on its own) and 8 (the general column loop), masks cutting lanes on both sides, dilation,
# uneven and large padding (gx rows that no tap reaches), groups, blocks of images over 1-3 threads; both layouts,
# every ISA. Kernels wider than the gather's masks (33 columns) take the scatter.
@settings(max_examples=80, deadline=None)
@given(isa=st.sampled_from(fastconv._C.available_isas()), n=st.integers(1, 5), groups=st.sampled_from([1, 1, 2]),
       c=st.integers(1, 4), k=st.integers(1, 9), h=st.integers(1, 20), w=st.integers(1, 40), r=st.integers(1, 5),
       s=st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 33]), dilation=st.sampled_from([(1, 1), (2, 1), (1, 3)]),
       padding=st.sampled_from([0, 1, "same", ((3, 0), (1, 4)), ((0, 6), (8, 0))]), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(DTYPES), threads=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_gemm_input_gradient_gather_property_based(isa, n, groups, c, k, h, w, r, s, dilation, padding, layout,
                                                   dtype, threads, seed):
    kw = dict(stride=1, dilation=dilation, padding=padding, groups=groups, layout=layout)
    assume(_fits(h, w, r, s, dict(kw, stride=(1, 1))))
    rng = np.random.default_rng(seed)
    nhwc = layout == "NHWC"
    x = rng.standard_normal((n, h, w, c * groups) if nhwc else (n, c * groups, h, w)).astype(dtype)
    wt = rng.standard_normal((r, s, c, k * groups) if nhwc else (k * groups, c, r, s)).astype(dtype)
    g = rng.standard_normal(reference.conv2d(x, wt, **kw).shape).astype(dtype)
    with isa_and_threads(isa, threads):
        got = fastconv.conv2d_backward(g, x, wt, algorithm="gemm", need_weight=False, need_bias=False, **kw)[0]
    assert_close(got, reference.conv2d_backward(g, x, wt, **kw)[0], r * s * k)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_auto_runs_padding_heavy_input_gradients_by_the_gemm(layout, rng):
    """LeNet's 6 -> 16 5x5 layer without padding: the direct pass would multiply gy's zero padding (196 gx pixels
    from 100 gy pixels), so auto takes the GEMM, bit for bit; 'same' padding keeps the direct pass."""
    x, w = to_layout(rng.standard_normal((4, 6, 14, 14)), rng.standard_normal((16, 6, 5, 5)), layout)
    for padding, expected in [(0, "gemm"), (2, "direct")]:
        kw = dict(padding=padding, layout=layout, need_weight=False, need_bias=False)
        g = rng.standard_normal(fastconv.conv2d(x, w, padding=padding, layout=layout).shape)
        got = fastconv.conv2d_backward(g, x, w, **kw)[0]
        want = fastconv.conv2d_backward(g, x, w, **kw, algorithm=expected)[0]
        np.testing.assert_array_equal(got, want)


# NHWC rows whose vectors each hold one pixel's channels (a multiple of the vector's lanes: 1 to 3 vectors a pixel)
# run groups of whole pixels down all the rows, each group's vectors reading x from one base column, a pixel's
# vectors sharing its broadcast (csrc/kernels/direct_rows.h, fwd_group UNIT). Output channels 4-64 (1-3 vectors a
# pixel on every ISA's lanes), widths leaving short last groups, both strides along a row; forward with bias and
# relu, every ISA, 1-3 threads.
@settings(max_examples=40, deadline=None)
@given(isa=st.sampled_from(fastconv._C.available_isas()), n=st.integers(1, 3), c=st.integers(1, 2),
       k=st.sampled_from([4, 8, 12, 16, 24, 32, 48, 64]), h=st.integers(3, 12), w=st.integers(3, 40),
       rs=st.integers(1, 3), stride=st.sampled_from([1, 2]), dtype=st.sampled_from(DTYPES), relu=st.booleans(),
       threads=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_nhwc_pixel_vector_rows_property_based(isa, n, c, k, h, w, rs, stride, dtype, relu, threads, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = rng.standard_normal((rs, rs, c, k)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    kw = dict(stride=(1, stride), padding=1, layout="NHWC", activation="relu" if relu else None)
    with isa_and_threads(isa, threads):
        y = fastconv.conv2d(x, wt, b, algorithm="direct", **kw)
    assert_close(y, reference.conv2d(x, wt, b, **kw), c * rs * rs)


@pytest.mark.parametrize("c, k, groups, rs, padding", [(1, 6, 1, 3, 0), (1, 8, 1, 5, 2), (2, 3, 1, 3, 1),
                                                     (4, 4, 4, 3, 1), (3, 6, 3, 5, 2)],
                         ids=["1to6_3x3", "1to8_5x5", "2to3_3x3", "depthwise_3x3", "depthwise_x2_5x5"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_infinite_input_reaches_only_what_reads_it(c, k, groups, rs, padding, layout, isa, rng):
    """An infinite x value makes exactly the outputs and weight-gradient taps that multiply it non-finite: lanes past
    a row's outputs (their gy lanes zero) must not read it, since 0 x inf is NaN. Row kernels read the next taps'
    columns there, shifted planes the rows below; 2 images of 28 x 28 on 2 threads are bands of 7 rows."""
    x = rng.standard_normal((2, c, 28, 28))
    wt = rng.standard_normal((k, c // groups, rs, rs))
    x, wt = to_layout(x, wt, layout)
    kw = dict(padding=padding, groups=groups, layout=layout)
    g = rng.standard_normal(reference.conv2d(x, wt, **kw).shape)
    for hh, ww in [(0, 0), (6, 27), (7, 0), (8, 1), (9, 26), (13, 2), (14, 0), (21, 27), (26, 5), (27, 27)]:
        xi = x.copy()
        xi[(0, hh, ww, c - 1) if layout == "NHWC" else (0, c - 1, hh, ww)] = np.inf
        with isa_and_threads(isa, 2):
            y = fastconv.conv2d(xi, wt, algorithm="direct", **kw)
            gw = fastconv.conv2d_backward(g, xi, wt, algorithm="direct", **kw)[1]
        want_y, want_gw = reference.conv2d(xi, wt, **kw), reference.conv2d_backward(g, xi, wt, **kw)[1]
        np.testing.assert_array_equal(np.isfinite(y), np.isfinite(want_y), err_msg=f"x[{hh}, {ww}] = inf")
        np.testing.assert_array_equal(np.isfinite(gw), np.isfinite(want_gw), err_msg=f"x[{hh}, {ww}] = inf")
        assert_close(np.where(np.isfinite(gw), gw, 0), np.where(np.isfinite(want_gw), want_gw, 0), g.size)


def test_direct_algorithm_is_refused_where_it_does_not_apply():
    x, w = np.zeros((1, 4, 5, 5)), np.zeros((4, 2, 3, 3))
    with pytest.raises(ValueError, match="algorithm 'direct' applies to dense"):
        fastconv.conv2d(x, w, groups=2, algorithm="direct")
    with pytest.raises(ValueError, match="algorithm 'direct' applies to dense"):
        fastconv.conv2d_backward(np.zeros((1, 4, 3, 3)), x, w, groups=2, algorithm="direct")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_denormal_inputs_are_flushed_without_changing_results_beyond_tolerance(layout, isa, rng):
    """Kernels run with flush-to-zero/denormals-are-zero (denormal operands cost ~100x); the caller's floating-point
    mode is restored afterwards."""
    case = CASES[10]
    x, w, b = case.arrays(rng, np.float32, layout)
    tiny = (x * np.float32(1e-39)).astype(np.float32)  # every element denormal
    assert np.all((np.abs(tiny) < np.finfo(np.float32).tiny) | (tiny == 0))
    kw = dict(case.kwargs, layout=layout)
    for xs in (tiny, np.where(rng.random(x.shape) < 0.5, tiny, x).astype(np.float32)):
        assert_close(fastconv.conv2d(xs, w, b, **kw), reference.conv2d(xs, w, b, **kw), case.reduction)
        g = np.ones_like(reference.conv2d(xs, w, **kw))
        for got, want in zip(fastconv.conv2d_backward(g, xs, w, **kw), reference.conv2d_backward(g, xs, w, **kw)):
            assert_close(got, want, g.size)
    # this thread still computes denormals (the kernels restored its MXCSR)
    assert np.float32(1e-38) / np.float32(100) != 0
