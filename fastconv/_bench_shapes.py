"""Benchmark shapes, named once: used by `fastconv bench` and re-exported by benchmarks/shapes.py."""
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, repr=False)
class ConvShape:
    id: str
    n: int
    c: int
    h: int
    w: int
    k: int
    r: int
    s: int
    kwargs: dict = field(default_factory=dict)
    group: str = "large"  # small / large / depthwise

    def __repr__(self):  # the id names the shape in benchmark groups and tables
        return self.id

    @property
    def groups(self):
        return self.kwargs.get("groups", 1)

    def out_hw(self):
        from fastconv import _args

        stride = _args.pair("b", "stride", self.kwargs.get("stride", 1), 1)
        (pt, pb), (pl, pr) = _args.conv_padding("b", self.kwargs.get("padding", 0), (self.h, self.w),
                                                (self.r, self.s), stride, (1, 1))
        return (_args.out_size(self.h, pt + pb, self.r, stride[0], 1),
                _args.out_size(self.w, pl + pr, self.s, stride[1], 1))

    @property
    def flops(self):
        """Multiply-adds x 2 of one pass (forward, backward-data and backward-weight each cost the same)."""
        p, q = self.out_hw()
        return 2 * self.n * self.k * p * q * (self.c // self.groups) * self.r * self.s

    @property
    def reduction(self):
        return self.c // self.groups * self.r * self.s

    def arrays(self, layout, dtype=np.float32, seed=0):
        """x, w, b, grad_y in `layout` (weights OIHW for NCHW, HWIO for NHWC)."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.n, self.c, self.h, self.w)).astype(dtype)
        w = (rng.standard_normal((self.k, self.c // self.groups, self.r, self.s)) / np.sqrt(self.reduction))
        w = w.astype(dtype)
        b = rng.standard_normal(self.k).astype(dtype)
        p, q = self.out_hw()
        gy = rng.standard_normal((self.n, self.k, p, q)).astype(dtype)
        if layout == "NHWC":
            x, gy = (np.ascontiguousarray(a.transpose(0, 2, 3, 1)) for a in (x, gy))
            w = np.ascontiguousarray(w.transpose(2, 3, 1, 0))
        return x, w, b, gy


@dataclass(frozen=True, repr=False)
class PoolShape:
    id: str
    n: int
    c: int
    h: int
    w: int
    kernel: int
    stride: int
    padding: int = 0

    def __repr__(self):
        return self.id

    def arrays(self, layout, dtype=np.float32, seed=0):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.n, self.c, self.h, self.w)).astype(dtype)
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "NHWC" else x

    @property
    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding)

    def out_hw(self):
        return tuple((n + 2 * self.padding - self.kernel) // self.stride + 1 for n in (self.h, self.w))

    @property
    def bytes(self):
        """Bytes a pass must move at least: read the input, write the output (float32)."""
        p, q = self.out_hw()
        return 4 * self.n * self.c * (self.h * self.w + p * q)


CONV_SHAPES = [
    ConvShape("mnist_1x6_2x2", 32, 1, 28, 28, 6, 2, 2, group="small"),
    ConvShape("lenet_1x6_5x5", 32, 1, 28, 28, 6, 5, 5, dict(padding=2), group="small"),
    ConvShape("lenet_6x16_5x5", 32, 6, 14, 14, 16, 5, 5, group="small"),
    ConvShape("small_1x32_3x3", 32, 1, 28, 28, 32, 3, 3, group="small"),
    ConvShape("small_32x64_3x3", 32, 32, 26, 26, 64, 3, 3, group="small"),
    ConvShape("resnet_64_3x3", 8, 64, 56, 56, 64, 3, 3, dict(padding=1)),
    ConvShape("resnet_128_3x3", 8, 128, 28, 28, 128, 3, 3, dict(padding=1)),
    ConvShape("resnet_256_3x3", 8, 256, 14, 14, 256, 3, 3, dict(padding=1)),
    ConvShape("resnet_512_3x3", 8, 512, 7, 7, 512, 3, 3, dict(padding=1)),
    ConvShape("resnet_256x64_1x1", 8, 256, 56, 56, 64, 1, 1),
    ConvShape("alexnet_3x64_11x11_s4", 8, 3, 224, 224, 64, 11, 11, dict(stride=4, padding=2)),
    ConvShape("depthwise_32_3x3", 8, 32, 112, 112, 32, 3, 3, dict(padding=1, groups=32), group="depthwise"),
]

POOL_SHAPES = [
    PoolShape("mnist_pool_2x2", 32, 6, 27, 27, 2, 2),
    PoolShape("resnet_stem_pool_3x3_s2", 8, 64, 112, 112, 3, 2, 1),
]

SHAPES_BY_ID = {s.id: s for s in CONV_SHAPES + POOL_SHAPES}


def select(ids):
    """Shapes by comma-separated ids or group names (small, large, depthwise, pool); every shape for None."""
    if not ids:
        return list(CONV_SHAPES) + list(POOL_SHAPES)
    out = []
    for token in ids.split(","):
        token = token.strip()
        group = POOL_SHAPES if token == "pool" else [s for s in CONV_SHAPES if s.group == token]
        matches = group or ([SHAPES_BY_ID[token]] if token in SHAPES_BY_ID else [])
        if not matches:
            raise ValueError(f"unknown shape {token!r}; known: {', '.join(SHAPES_BY_ID)} or small/large/depthwise/pool")
        out += matches
    return out
