"""The `fastconv` command line."""
import subprocess
import sys

import fastconv


def test_info_prints_version_isa_threads_and_openmp():
    out = subprocess.run([sys.executable, "-m", "fastconv", "info"], capture_output=True, text=True, check=True)
    text = out.stdout
    assert f"fastconv {fastconv.__version__}" in text
    assert f"isa in use:      {fastconv.cpu_info()['isa']}" in text
    assert "threads:" in text and "openmp:" in text and "runtime:" in text


def test_no_command_is_a_usage_error():
    out = subprocess.run([sys.executable, "-m", "fastconv"], capture_output=True, text=True)
    assert out.returncode == 2 and "usage: fastconv" in out.stderr
