"""Every ```python block of the Python guide (bindings/python/README.md) runs, each in a
fresh interpreter, and exits 0 (the gevent side of the porting example needs gevent,
from tests/python/requirements.txt). The ```sh block (building a wheel) is what
scripts/test-python.sh itself does, so it is not run again here."""

import os
import re
import subprocess
import sys

import pytest

README = os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python", "README.md")


def _blocks():
    with open(README) as f:
        text = f.read()
    out = []
    for m in re.finditer(r"^```python\n(.*?)^```$", text, re.S | re.M):
        line = text.count("\n", 0, m.start()) + 1
        out.append(pytest.param(m.group(1), id="README.md:%d" % line))
    return out


BLOCKS = _blocks()


def test_the_guide_has_blocks():
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("code", BLOCKS)
def test_guide_block_runs(code, tmp_path):
    path = tmp_path / "block.py"
    path.write_text(code)
    r = subprocess.run([sys.executable, "-X", "faulthandler", str(path)], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, "stdout:\n%s\nstderr:\n%s" % (r.stdout, r.stderr)
    assert r.stdout.strip(), "the block printed nothing"
