"""The benchmark shapes (defined in the package so that `fastconv bench` ships them too)."""
from fastconv._bench_shapes import CONV_SHAPES, POOL_SHAPES, SHAPES_BY_ID, ConvShape, PoolShape, select  # noqa: F401
