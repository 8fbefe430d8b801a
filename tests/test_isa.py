"""Run-time dispatch: FASTCONV_ISA is honoured at import, and an impossible request fails with a clear sentence."""
import os
import subprocess
import sys

import pytest

from fastconv import _C

KNOWN = ["avx512", "avx2", "generic"]


def run_with_isa(value):
    env = dict(os.environ, FASTCONV_ISA=value)
    code = "import fastconv; print(fastconv.cpu_info()['isa'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("isa", KNOWN)
def test_fastconv_isa_is_honoured_or_refused(isa):
    out = run_with_isa(isa)
    if isa in _C.available_isas():
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == isa
    else:
        assert out.returncode != 0
        assert f"FASTCONV_ISA={isa} is not supported by this CPU" in out.stderr
        assert "available on this CPU" in out.stderr


def test_unknown_isa_fails_at_import_naming_it_and_the_available_ones():
    out = run_with_isa("sse9")
    assert out.returncode != 0
    assert "FASTCONV_ISA=sse9 is not a known ISA" in out.stderr
    assert "available on this CPU: " + ", ".join(_C.available_isas()) in out.stderr


def test_best_isa_is_chosen_by_default():
    env = {k: v for k, v in os.environ.items() if k != "FASTCONV_ISA"}
    out = subprocess.run([sys.executable, "-c", "import fastconv; print(fastconv.cpu_info()['isa'])"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _C.available_isas()[0]
