"""Build fastconv: a pybind11 module (csrc/) for convolution, a Cython module for pooling and small kernels.

Each ISA folder under csrc/kernels/ builds as its own static library with only its own flags; everything else
builds for baseline x86-64, so one wheel runs on any x86-64 CPU and picks its kernels at import.
"""
import os
import sys
import tempfile
import warnings
from glob import glob

from Cython.Build import cythonize
from pybind11.setup_helpers import Pybind11Extension
from setuptools import Extension, setup
from setuptools._distutils.ccompiler import new_compiler
from setuptools._distutils.sysconfig import customize_compiler

BASE_FLAGS = ["-O3", "-fno-math-errno", "-fno-trapping-math"]
CXX_FLAGS = BASE_FLAGS + ["-std=c++17", "-fvisibility=hidden"]
ISA_FLAGS = {
    "generic": [],
    "avx2": ["-mavx2", "-mfma"],
    "avx512": ["-mavx512f", "-mavx512vl", "-mavx512dq", "-mavx512bw", "-mavx2", "-mfma"],
}


def openmp_flags():
    """The one probe: does the compiler take -fopenmp? Without it the build is single-threaded, with a warning."""
    if os.environ.get("FASTCONV_NO_OPENMP"):
        return []
    cc = new_compiler()
    customize_compiler(cc)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n")
        try:
            objs = cc.compile([src], output_dir=tmp, extra_postargs=["-fopenmp"])
            cc.link_executable(objs, os.path.join(tmp, "probe"), extra_postargs=["-fopenmp"])
        except Exception:  # noqa: BLE001 - any compiler failure means "no OpenMP"
            warnings.warn("fastconv: the compiler does not support -fopenmp; building without threads")
            return []
    return ["-fopenmp"]


OMP = openmp_flags()
INCLUDE = ["csrc/include", "csrc"]
# Rebuilds after an edit: any header recompiles every object (the kernels' templates live in headers), and any
# kernel source relinks the module (the ISA libraries are static archives linked into it).
HEADERS = sorted(glob("csrc/**/*.h", recursive=True))
KERNEL_SOURCES = sorted(glob("csrc/kernels/*/*.cpp"))

isa_libraries = [
    (f"fc_{isa}", {"sources": sorted(glob(f"csrc/kernels/{isa}/*.cpp")), "include_dirs": INCLUDE,
                   "cflags": CXX_FLAGS + ["-fPIC"] + flags, "obj_deps": {"": HEADERS}})
    for isa, flags in ISA_FLAGS.items()
]

conv_module = Pybind11Extension(
    "fastconv._C",
    sorted(glob("csrc/*.cpp") + glob("csrc/operators/*.cpp")),
    include_dirs=INCLUDE,
    depends=HEADERS + KERNEL_SOURCES,
    define_macros=[("FASTCONV_BUILD_FLAGS", '"' + " ".join(CXX_FLAGS + OMP) + '"')],
    extra_compile_args=CXX_FLAGS + OMP,
    extra_link_args=OMP,
    cxx_std=17,
)

pooling_module = Extension(
    "fastconv._pooling",
    ["fastconv/_pooling.pyx"],
    include_dirs=["csrc"],
    depends=sorted(glob("csrc/pooling/*.h")),  # its vector loops: an edit there recompiles the module
    extra_compile_args=BASE_FLAGS + OMP,
    extra_link_args=OMP,
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)

setup(
    libraries=isa_libraries,
    ext_modules=[conv_module] + cythonize(
        [pooling_module], language_level=3, compiler_directives={"boundscheck": False, "wraparound": False,
                                                                 "cdivision": True, "initializedcheck": False}),
)
