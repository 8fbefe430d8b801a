"""The `fastconv` command line."""
import fastconv
from helpers import run_python
from mnist_data import load_or_skip


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


def test_train_runs_the_main_job_end_to_end(tmp_path):
    load_or_skip()
    plot = tmp_path / "curves.png"
    out = run_python("-m", "fastconv", "train", "--epochs", "1", "--limit", "3000", "--verbose", "2",
                     "--plot", str(plot), "--save-weights", str(tmp_path / "w.npz"))
    assert "Total params: 10,180" in out.stdout
    assert "Test accuracy:" in out.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert out.returncode != 0 and "--plot needs matplotlib" in out.stderr
    else:
        assert out.returncode == 0, out.stderr
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "w.npz").exists() or out.returncode != 0


def test_train_fails_clearly_without_data(tmp_path):
    out = run_python("-m", "fastconv", "train", "--data-dir", str(tmp_path / "empty"), "--epochs", "1",
                     env={"FASTCONV_MNIST_MIRRORS": ""})
    assert out.returncode == 1
    assert "fastconv train: error: MNIST files missing from" in out.stderr
