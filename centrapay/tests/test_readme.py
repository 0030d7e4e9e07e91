"""README.rst is generated from ``readme/*.md`` by ``tools/readme.py``, and short.

Odoo-free: it reads the repository's files only. The repository root is two folders
above this one.
"""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 250


def load_generator():
    spec = importlib.util.spec_from_file_location(
        "pos_centrapay_readme", ROOT / "tools" / "readme.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator():
    return load_generator()


@pytest.fixture(scope="module")
def readme():
    return (ROOT / "README.rst").read_text(encoding="utf-8")


def test_readme_is_what_the_generator_writes(generator, readme):
    assert readme == generator.generate(), (
        "README.rst differs from what tools/readme.py writes: edit readme/*.md, "
        "then run python3 tools/readme.py"
    )


def test_readme_is_under_250_lines(readme):
    lines = readme.count("\n")
    assert lines < MAX_LINES, f"README.rst has {lines} lines (keep it under 250)"


def test_generator_limit_is_the_tests(generator):
    assert generator.MAX_LINES == MAX_LINES


def test_first_screen_is_what_it_does_a_screenshot_and_the_two_commands(readme):
    first_screen = "\n".join(readme.splitlines()[:60])
    assert "Take **Centrapay** payments" in first_screen
    assert ".. image:: static/description/pos_qr_screen.png" in first_screen
    assert "python3 tools/dev.py demo" in first_screen
    assert "ODOO_SRC=/path/to/odoo-18.0 python3 tools/dev.py test" in first_screen


def test_images_and_local_links_exist(readme):
    for path in re.findall(r"^\.\. image:: (\S+)$", readme, re.M):
        assert (ROOT / path).is_file(), path
    for target in re.findall(r"<([^<>\s:]+)>`__", readme):
        assert (ROOT / target.split("#")[0]).exists(), target


def test_fragment_and_doc_links_exist():
    files = [*(ROOT / "readme").glob("*.md"), *(ROOT / "doc").glob("*.md")]
    for file in files:
        text = file.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s:]+)\)", text):
            path = target.split("#")[0]
            if path:
                assert (file.parent / path).exists(), f"{file.name}: {target}"


def test_a_table_cannot_reach_the_readme(generator):
    with pytest.raises(SystemExit):
        generator.convert("Intro\n\n| a | b |\n| - | - |\n", "TEST.md")


def test_markdown_becomes_restructuredtext(generator):
    text = "\n".join(
        generator.convert(
            "Run *it* with `x` or _y_, see [the doc](../doc/a.md#b):\n\n"
            "```sh\nrun --it\n```\n\n![Alt text](../static/description/i.png)\n",
            "TEST.md",
        )
    )
    assert text == (
        "Run *it* with ``x`` or *y*, see `the doc <doc/a.md#b>`__::\n\n"
        "    run --it\n\n"
        ".. image:: static/description/i.png\n"
        "   :alt: Alt text"
    )
