"""Run-time dispatch: FASTCONV_ISA is honoured at import, and an impossible request fails with a clear sentence."""
import pytest

from fastconv import _C
from helpers import run_python

KNOWN = ["avx512", "avx2", "generic"]


def run_with_isa(value):
    return run_python("-c", "import fastconv; print(fastconv.cpu_info()['isa'])", env={"FASTCONV_ISA": value})


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
    out = run_with_isa("")  # empty means "best available", like unset
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == _C.available_isas()[0]
