"""tools/dev.py: a database made from the template gets the template's files.

``createdb -T`` copies tables only; without the files their attachments point
to, the demo's log repeats FileNotFoundError for the company logo.
"""

import importlib.util
import os

import pytest
from conftest import REPO_ROOT


@pytest.fixture
def dev(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    spec = importlib.util.spec_from_file_location(
        "pcp_dev_tools", os.path.join(REPO_ROOT, "tools", "dev.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _logo(dev, db):
    path = dev.filestore(db) / "67" / "670e9ff9"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"logo")
    return path


def test_a_new_database_gets_the_template_files(dev):
    _logo(dev, "pcp_base_x")
    stale = dev.filestore("pcp_demo") / "old"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"of a dropped database")
    dev.copy_filestore("pcp_base_x", "pcp_demo")
    assert (dev.filestore("pcp_demo") / "67" / "670e9ff9").read_bytes() == b"logo"
    assert not stale.exists()


def test_the_template_keeps_the_files_it_was_built_with(dev):
    """The template is built under a temporary name, then renamed."""
    _logo(dev, "pcp_base_x_tmp")
    dev.move_filestore("pcp_base_x_tmp", "pcp_base_x")
    assert (dev.filestore("pcp_base_x") / "67" / "670e9ff9").exists()
    assert not dev.filestore("pcp_base_x_tmp").exists()


def test_an_older_demo_database_gets_the_files_it_lacks(dev):
    _logo(dev, "pcp_base_x")
    own = dev.filestore("pcp_demo") / "ab" / "own"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"a receipt")
    dev.fill_filestore("pcp_base_x", "pcp_demo")
    assert (dev.filestore("pcp_demo") / "67" / "670e9ff9").read_bytes() == b"logo"
    assert own.read_bytes() == b"a receipt"
