"""The convolution case list: tile edges, not random sizes. Feeds the kernel, gradient, thread and ISA tests.

Register tiles are NR = 32/16/8 (f32) and 16/8/4 (f64) output columns by MR = 8/6/4 rows (AVX-512/AVX2/generic),
and on AVX-512 a wide 6 x 64 (f32) / 6 x 32 (f64) for forward-style GEMMs whose columns are a multiple of that
and for NHWC 1x1 weight gradients (x^T read in place, in blocks of at most 32 KiB of B panel: 128 steps at 6 x 64);
cache blocks KC = 256 (reduction), MC = 192/144/128, NC = 2048; bwd_weight sums pixels in chunks of 4096.
"""
from dataclasses import dataclass, field

from helpers import to_layout


@dataclass(frozen=True)
class ConvCase:
    id: str
    n: int
    c: int
    h: int
    w: int
    k: int
    r: int
    s: int
    kwargs: dict = field(default_factory=dict)

    @property
    def groups(self):
        return self.kwargs.get("groups", 1)

    @property
    def reduction(self):
        """Length of the sums behind one output value (forward) — also bounds backward-data's."""
        return self.c // self.groups * self.r * self.s

    def arrays(self, rng, dtype, layout="NCHW"):
        x = rng.standard_normal((self.n, self.c, self.h, self.w)).astype(dtype)
        w = rng.standard_normal((self.k, self.c // self.groups, self.r, self.s)).astype(dtype)
        b = rng.standard_normal(self.k).astype(dtype)
        x, w = to_layout(x, w, layout)
        return x, w, b


def case(id, n=2, c=3, h=7, w=8, k=4, r=3, s=3, **kwargs):
    return ConvCase(id, n, c, h, w, k, r, s, kwargs)


CASES = [
    case("k1_c1", c=1, k=1),
    *[case(f"k{k}", k=k) for k in (3, 7, 8, 9, 15, 16, 17, 33)],
    *[case(f"c{c}", c=c, k=5) for c in (1, 2, 16, 17)],
    case("c_odd_hw_odd", c=5, h=11, w=9, k=6),
    case("kernel_1x1", r=1, s=1, k=10),
    case("kernel_eq_input", h=3, w=4, r=3, s=4),
    case("kernel_rect", r=2, s=5, h=9, w=10),
    case("stride2", stride=2, h=9, w=10),
    case("stride3_1", stride=(3, 1), h=10, w=7),
    case("dilation2", dilation=2, h=9, w=9),
    case("dilation1_2_stride2", dilation=(1, 2), stride=2, h=9, w=11),
    case("pad1", padding=1),
    case("pad_pair", padding=(2, 1)),
    case("pad_asym", padding=((0, 2), (1, 0))),
    case("pad_same_s1", padding="same", r=4, s=3),
    case("pad_same_s2", padding="same", stride=2, h=9, w=8),
    case("pad_same_dil2", padding="same", dilation=2, h=8, w=7),
    case("pad_valid", padding="valid"),
    case("pad_large", padding=3, h=2, w=3, r=2, s=2),
    case("groups2", c=4, k=6, groups=2, padding=1),
    case("depthwise", c=6, k=6, groups=6, padding=1),
    case("depthwise_x2", c=4, k=8, groups=4, stride=2),
    case("batch0", n=0),
    case("batch1", n=1, padding=1),
    case("batch3", n=3, padding=1, stride=2),
    case("mnist_seed", n=4, c=1, h=28, w=28, k=6, r=2, s=2),
    case("lenet_c2", n=2, c=6, h=14, w=14, k=16, r=5, s=5),
    case("taps_gt_kc", n=1, c=40, h=12, w=11, k=9, padding=1),        # 360 taps > KC: accumulate across KC blocks
    case("k_gt_mc", n=1, c=2, h=6, w=5, k=200, padding=1),             # M (= K) beyond MC
    case("pixels_gt_nc", n=1, c=2, h=48, w=47, k=3, padding=1),        # 2256 pixels > NC
    case("pixels_gt_chunk", n=1, c=1, h=66, w=65, k=2, r=2, s=2),      # 4160 pixels > bwd_weight's 4096 chunk
    case("pointwise_big", n=1, c=40, h=48, w=47, k=9, r=1, s=1),       # 1x1 GEMMs over more pixels than a Col block
    case("pointwise_wide_g2", c=16, h=5, w=6, k=6, r=1, s=1, groups=2),  # NCHW 1x1 weight gradient: x rows in place
    case("wgrad_channel_rows", n=2, c=16, h=20, w=17, k=9, padding=1),  # NHWC gW^T GEMM, pixels > KC
    case("space_to_depth_s3", c=3, h=30, w=29, k=16, r=6, s=5, stride=3, padding=1),  # auto: stride-1 on x'
    case("space_to_depth_s4", c=3, h=27, w=25, k=16, r=11, s=11, stride=4, padding=2),  # AlexNet-like
    case("batched_images_gt_kc", n=3, c=5, h=12, w=12, k=7, padding=1),  # small images batched, > KC pixels
    case("weights_gt_l2_block", c=64, h=4, w=5, k=512, padding=1),   # bwd_data: W^T in several cached blocks
    case("wgrad_channel_rows_g2", c=32, h=10, w=9, k=10, groups=2, padding=1),  # ... per group, Kg below MR
    # forward-style GEMMs with a multiple of 64 columns run the wide tile (6x64 f32, 6x32 f64 on AVX-512): NHWC
    # output channels, NCHW pixels (8x8), the pointwise input gradient's 320 input channels (the forward's 320 > KC:
    # accumulated); 35 rows: a row tail
    case("wide_tile_k64", n=2, c=5, h=8, w=8, k=64, padding=1),
    case("wide_tile_pointwise", n=1, c=320, h=5, w=7, k=64, r=1, s=1),
    # NHWC 1x1 weight gradients read x^T in place, step by step (StepMajor): more than one block of steps (the next
    # one prefetched), a row tail (50 = 8 x 6 + 2), gy read in place where its rows are one panel (64 channels,
    # f32 AVX-512), per group where they are not
    case("pointwise_steps", n=2, c=50, h=12, w=13, k=64, r=1, s=1),
    case("pointwise_steps_g2", n=1, c=36, h=20, w=15, k=80, r=1, s=1, groups=2),
    case("direct_channel_blocks", c=8, h=9, w=21, k=8, padding=1),  # direct NCHW rows: 6 + 2 channels, 2 vectors a row
    case("direct_nhwc_by_channel", c=8, h=10, w=11, k=3, padding=1),  # NHWC, 3 channels x 72 taps: NCHW rows
    # NHWC 1x1 layers of <= 2 vectors of outputs (dense layers) run skinny products under "gemm": one vector a
    # row with 33 rows (blocks of 16 + 1), two with a partial second, two whole ones; columns split over threads
    case("dense_1014x10", n=1, c=1014, h=33, w=1, k=10, r=1, s=1),
    case("dense_70x17", n=3, c=70, h=7, w=1, k=17, r=1, s=1),
    case("dense_40x32", n=1, c=40, h=19, w=2, k=32, r=1, s=1),
]
