"""The `fastconv` command line."""
import fastconv
from helpers import run_python


def test_info_prints_version_isa_threads_and_openmp():
    out = run_python("-m", "fastconv", "info")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert f"fastconv {fastconv.__version__}" in text
    assert f"isa in use:      {fastconv.cpu_info()['isa']}" in text
    assert "threads:" in text and "openmp:" in text and "runtime:" in text


def test_no_command_is_a_usage_error():
    out = run_python("-m", "fastconv")
    assert out.returncode == 2 and "usage: fastconv" in out.stderr
