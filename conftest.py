"""`python -m pytest` puts this checkout first on sys.path, where fastconv/ holds sources but (unless built in
place with `pip install -e .`) no compiled modules. Test the installed package in that case."""
import pathlib
import sys

_HERE = pathlib.Path(__file__).resolve().parent
if not list((_HERE / "fastconv").glob("_C.*")):
    sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != _HERE]
