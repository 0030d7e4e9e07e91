#!/usr/bin/env python3
"""Generate README.rst from the fragments in ``readme/`` (OCA's layout).

    python3 tools/readme.py          # write README.rst
    python3 tools/readme.py --check  # exit 1 when README.rst is not what it writes

Edit the fragments, never README.rst. The README holds DESCRIPTION.md, then the
*head* of INSTALL.md, CONFIGURE.md and USAGE.md (their text before the first ``## ``
heading; a ``### `` heading there is a subsection) with a link to each of their
``## `` sections, then HISTORY.md,
CONTRIBUTORS.md and CREDITS.md in full. So a fragment's head is what a newcomer
reads first; put long material (tables, guides) in a ``## `` section after it, or in
``doc/``. The Markdown understood is what the fragments use: paragraphs, ``-``,
``*`` and ``1.`` lists, ``**strong**``, ``*emphasis*`` or ``_emphasis_``,
```code```, ``[links](url)``, images alone on a line and fenced code blocks. A
table in a part that goes into the README is an error. Plain Python, no dependency.
"""

import argparse
import ast
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.rst"
FRAGMENTS = ROOT / "readme"
MAX_LINES = 250

# (fragment, README section title); only the fragment's head goes in the README.
HEADED = [
    ("INSTALL.md", "Quick start"),
    ("CONFIGURE.md", "Configuration"),
    ("USAGE.md", "Usage"),
]
DOCS = [
    ("doc/architecture.md", "how it works inside, a request's life, production"),
    ("doc/benchmarks.md", "the measured figures, with their commands"),
    ("doc/centrapay.md", "the Centrapay behaviour the module relies on"),
    ("centrapay/sandbox/README.md", "the local Centrapay sandbox"),
]
LIST_ITEM = re.compile(r"^\s*(?:[-*]|\d+\.) ")
IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)\s]+)\)$")
HEADING = re.compile(r"^(#{1,4}) +(.+?) *#*$")
UNDERLINE = {1: "=", 2: "-", 3: "~"}


def path_from_root(url):
    """A fragment's link (relative to ``readme/``) as seen from the repository."""
    if re.match(r"^[a-z]+:|^#", url):
        return url
    return url[3:] if url.startswith("../") else "readme/" + url


def inline(text):
    """Markdown inline markup to reStructuredText."""
    codes = []

    def keep_code(match):
        codes.append(f"``{match.group(1)}``")
        return f"\0{len(codes) - 1}\0"

    text = re.sub(r"`([^`]+)`", keep_code, text)
    text = re.sub(
        r"\[([^\]]+)\]\(([^)\s]+)\)",
        lambda m: f"`{m.group(1)} <{path_from_root(m.group(2))}>`__",
        text,
    )
    text = re.sub(r"(?<![\w*\\])_([^_\n]+?)_(?!\w)", r"*\1*", text)
    return re.sub(r"\0(\d+)\0", lambda m: codes[int(m.group(1))], text)


def heading(title, level):
    return [title, UNDERLINE[level] * len(title), ""]


def slug(title):
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def blank_before(out):
    if out and out[-1] != "":
        out.append("")


def convert(markdown, where, shift=1):
    """Markdown blocks to reStructuredText lines; ``#`` * (n + shift) is level n."""
    out = []
    lines = markdown.strip("\n").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            end = lines.index("```", i + 1)
            while out and out[-1] == "":
                out.pop()
            if out and out[-1].endswith(":"):
                out[-1] += ":"  # "Run it::" shows as "Run it:" before the block
            else:
                out += ["", "::"]
            out += [""] + ["    " + x if x else "" for x in lines[i + 1 : end]]
            out.append("")
            i = end + 1
            continue
        if line.lstrip().startswith("|"):
            sys.exit(f"{where}: a table cannot go in the README; move it under a ## ")
        found = IMAGE.match(line) or HEADING.match(line)
        if found and found.re is IMAGE:
            blank_before(out)
            out += [f".. image:: {path_from_root(found.group(2))}"]
            out += [f"   :alt: {found.group(1)}", ""]
        elif found:
            blank_before(out)
            out += heading(inline(found.group(2)), len(found.group(1)) - shift)
        elif LIST_ITEM.match(line) and out and out[-1] and not out[-1][:1].isspace():
            if not LIST_ITEM.match(out[-1]):
                out.append("")
            out.append(inline(line))
        else:
            out.append(inline(line))
        i += 1
    while out and out[-1] == "":
        out.pop()
    return [x for n, x in enumerate(out) if x or (n and out[n - 1])]


def split_head(text):
    """A fragment's text before its first ``## `` heading, and those headings."""
    match = re.search(r"^## ", text, re.M)
    if not match:
        return text, []
    titles = re.findall(r"^## +(.+?) *$", text[match.start() :], re.M)
    return text[: match.start()], titles


def links_to_rest(name, titles):
    path = f"readme/{name}"
    refs = [f"`{t} <{path}#{slug(t)}>`__" for t in titles]
    sentence = f"More in `{path} <{path}>`__: " + ", ".join(refs) + "."
    return textwrap.wrap(sentence, 88, break_long_words=False, break_on_hyphens=False)


def fragment(name):
    return (FRAGMENTS / name).read_text(encoding="utf-8")


def manifest():
    return ast.literal_eval((ROOT / "__manifest__.py").read_text(encoding="utf-8"))


def generate():
    name = manifest()["name"]
    out = [
        ".. Generated by tools/readme.py from readme/*.md: edit those, then run",
        "   python3 tools/readme.py",
        "",
        "=" * len(name),
        name,
        "=" * len(name),
        "",
    ]
    out += convert(fragment("DESCRIPTION.md"), "DESCRIPTION.md") + [""]
    for number, (file, title) in enumerate(HEADED):
        head, titles = split_head(fragment(file))
        out += heading(title, 1) + convert(head, file) + [""]
        if titles:
            out += links_to_rest(file, titles) + [""]
        if number == 0:
            out += [".. contents::", "   :local:", ""]
    out += heading("Documentation", 1)
    out += [f"* `{path} <{path}>`__: {what}" for path, what in DOCS] + [""]
    out += heading("Changelog", 1) + convert(fragment("HISTORY.md"), "HISTORY.md", 0)
    out += [""] + heading("Credits", 1)
    out += heading("Authors", 2) + [f"* {manifest()['author']}", ""]
    out += heading("Contributors", 2) + convert(fragment("CONTRIBUTORS.md"), "")
    out += [""] + heading("Other credits", 2) + convert(fragment("CREDITS.md"), "")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).rstrip("\n") + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare")
    args = parser.parse_args()
    text = generate()
    lines = text.count("\n")
    if args.check:
        if README.read_text(encoding="utf-8") != text:
            sys.exit("README.rst is not what tools/readme.py writes: run it")
    else:
        README.write_text(text, encoding="utf-8")
    print(f"README.rst: {lines} lines")
    if lines >= MAX_LINES:
        sys.exit(f"README.rst has {lines} lines; keep it under {MAX_LINES}")


if __name__ == "__main__":
    main()
