#!/usr/bin/env python3
"""Developer tooling for pos_centrapay: ``demo`` and ``test``.

Everything it builds lives outside the checkout, in ``$POS_CENTRAPAY_CACHE``
(default ``~/.cache/pos_centrapay``), so a fresh clone on the same machine reuses it.
Odoo comes from ``ODOO_SRC`` (an Odoo 18.0 source tree); the path is remembered in
the cache for later runs.
"""

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULE = "pos_centrapay"
CACHE = Path(
    os.environ.get("POS_CENTRAPAY_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / MODULE
)
ENTERPRISE_LICENSES = {"OEEL-1", "OPL-1"}
PY = os.environ.get("POS_CENTRAPAY_PYTHON") or shutil.which("python3.11") or "python3"
# Pins match what Odoo 18 installs, so the Odoo-free tier tests the same stack.
LITE_REQUIREMENTS = [
    "cryptography==3.4.8",
    "requests==2.31.0",
    "urllib3==1.26.5",
    "idna==2.10",
    "pytest>=8,<10",
]
ODOO_EXTRA_REQUIREMENTS = [
    "pytest>=8,<10",
    "pytest-odoo==2.3.0",
    "websocket-client",
    # gevent 22.10 (Odoo's pin for Python 3.11) checks its dependencies through
    # pkg_resources, whose setuptools<70 cannot find a distribution named
    # "zope_interface-8.x.dist-info" / "zope_event-5.1+": the websocket (gevent)
    # process of a multi-worker Odoo then dies at start. The last releases with the
    # dotted metadata name work.
    "zope.interface==7.2",
    "zope.event==5.0",
]
LINT_REQUIREMENTS = ["pre-commit==4.7.0", "ruff==0.17.5", "pylint-odoo==10.0.12"]
NODE_PACKAGES = [
    "prettier@3.3.3",
    "@prettier/plugin-xml@3.4.1",
    "eslint@8.57.1",
]


def say(msg):
    print(f"[dev] {msg}", flush=True)


def banner(lines):
    width = max(len(line) for line in lines) + 4
    print("\n" + "#" * width, flush=True)
    for line in lines:
        print(f"# {line.ljust(width - 4)} #")
    print("#" * width + "\n", flush=True)


def run(cmd, check=True, **kw):
    say("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=check, **kw)


def module_requirements():
    """Our own Python dependencies (``requirements.txt``) as pip requirements."""
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def digest(*parts):
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()[:12]


def ensure_venv(name, requirements, constraints=()):
    """A cached virtualenv holding ``requirements``, one per set of requirements.

    Named after their digest (``venv-odoo-<digest>``), so that checkouts with
    other requirements (another branch, say) never rebuild each other's; the
    plain name (``venv-odoo``) links to the newest, for the commands in the docs.
    """
    key = digest(PY, *requirements, *constraints)
    venv = CACHE / f"{name}-{key}"
    stamp = venv / ".pcp-stamp"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs never build one venv at once
        if not (stamp.exists() and stamp.read_text() == key):
            _build_venv(venv, requirements, constraints)
            stamp.write_text(key)
    link = CACHE / name
    if link.is_symlink() or not link.exists():
        tmp = CACHE / f".{name}.link"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(venv.name)
        tmp.replace(link)
    return venv


def _build_venv(venv, requirements, constraints):
    if venv.exists():
        shutil.rmtree(venv)
    run([PY, "-m", "venv", venv])
    env = dict(os.environ)
    if constraints:
        cfile = venv / "build-constraints.txt"
        cfile.write_text("\n".join(constraints) + "\n")
        # A build constraint: cbor2 and friends fail to build with setuptools>=70.
        env["PIP_CONSTRAINT"] = str(cfile)
    pip = [
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    run(pip + ["wheel", "setuptools<70"], env=env)
    rfile = venv / "requirements.txt"
    rfile.write_text("\n".join(requirements) + "\n")
    run(pip + ["-r", rfile], env=env)


# --- Odoo source -------------------------------------------------------------------


def odoo_source():
    """The Odoo 18.0 source tree to use, or None."""
    remembered = CACHE / "odoo_src"
    src = os.environ.get("ODOO_SRC")
    if not src and remembered.exists():
        src = remembered.read_text().strip()
    if not src:
        return None
    src = Path(src).resolve()
    release = src / "odoo" / "release.py"
    if not release.exists():
        sys.exit(f"ODOO_SRC={src} is not an Odoo source tree (no odoo/release.py).")
    if "version_info = (18, 0" not in release.read_text() and not re.search(
        r"version_info\s*=\s*\(\s*18\s*,\s*0", release.read_text()
    ):
        sys.exit(f"ODOO_SRC={src} is not Odoo 18.0.")
    CACHE.mkdir(parents=True, exist_ok=True)
    remembered.write_text(str(src))
    return src


def read_manifest(path):
    try:
        return eval(path.read_text(), {"__builtins__": {}})
    except Exception as exc:  # a broken third-party manifest must not stop us
        say(f"skipping unreadable manifest {path}: {exc}")
        return None


def community_tree(src):
    """A symlink view of ``src`` whose ``odoo/addons`` holds only community addons.

    Odoo always adds ``odoo/addons`` to the addons path, so enterprise addons
    (``web_enterprise`` auto-installs) must be left out of that very folder.
    """
    view = CACHE / f"odoo-community-{digest(src)}"
    if (view / ".complete").exists():
        return view
    if view.exists():
        shutil.rmtree(view)
    (view / "odoo" / "addons").mkdir(parents=True)
    for entry in (src / "odoo").iterdir():
        if entry.name != "addons":
            (view / "odoo" / entry.name).symlink_to(entry)
    for entry in src.iterdir():
        if entry.name not in ("odoo",):
            (view / entry.name).symlink_to(entry)
    addons_dirs = [src / "odoo" / "addons"] + (
        [src / "addons"] if (src / "addons").is_dir() else []
    )
    manifests = {}
    for adir in addons_dirs:
        for mod in adir.iterdir():
            mf = mod / "__manifest__.py"
            if mf.exists():
                data = read_manifest(mf)
                if data is not None:
                    manifests[mod.name] = (mod, data)
    excluded = {
        n for n, (_, d) in manifests.items() if d.get("license") in ENTERPRISE_LICENSES
    }
    changed = True
    while (
        changed
    ):  # also drop anything depending, directly or not, on an excluded addon
        changed = False
        for name, (_, data) in manifests.items():
            if name not in excluded and any(
                dep in excluded for dep in data.get("depends", [])
            ):
                excluded.add(name)
                changed = True
    (view / "odoo" / "addons" / "__init__.py").symlink_to(
        src / "odoo" / "addons" / "__init__.py"
    )
    for name, (mod, _) in manifests.items():
        if name not in excluded:
            (view / "odoo" / "addons" / name).symlink_to(mod)
    (view / ".complete").write_text(
        f"{len(manifests) - len(excluded)} community addons\n"
    )
    say(f"Odoo community view: {view} ({len(excluded)} enterprise addons left out)")
    return view


def odoo_venv(view):
    src_req = (view / "requirements.txt").read_text().splitlines()
    reqs = [line for line in src_req if line.strip() and not line.startswith("#")]
    ensure_debian_packages(
        ["libldap2-dev", "libsasl2-dev", "libpq-dev"], header="/usr/include/ldap.h"
    )
    venv = ensure_venv(
        "venv-odoo",
        reqs + module_requirements() + ODOO_EXTRA_REQUIREMENTS,
        constraints=["setuptools<70"],
    )
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "odoo-src.pth").write_text(str(view) + "\n")
    return venv


def ensure_debian_packages(pkgs, header=None, binary=None):
    if (header and Path(header).exists()) or (binary and shutil.which(binary)):
        return
    missing = [
        p
        for p in pkgs
        if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0
    ]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(
            f"Please install the Debian packages {' '.join(missing)} "
            "(apt-get install -y ...)."
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env)
    run(
        ["apt-get", "install", "-y", "-qq", *missing],
        env=env,
        stdout=subprocess.DEVNULL,
    )


def chromium():
    ensure_debian_packages(["chromium"], binary="chromium")
    return shutil.which("chromium")


# --- PostgreSQL ----------------------------------------------------------------------


def postgres():
    """Return libpq environment variables for a reachable PostgreSQL server."""
    if os.environ.get("PGHOST") or os.environ.get("PGPORT"):
        if subprocess.run(["pg_isready", "-q"]).returncode == 0:
            return {}
    if (
        shutil.which("pg_lsclusters")
        and subprocess.run(["pg_isready", "-q"]).returncode != 0
    ):
        clusters = subprocess.run(
            ["pg_lsclusters", "-h"], capture_output=True, text=True
        ).stdout
        for line in clusters.splitlines():
            ver, name = line.split()[:2]
            subprocess.run(["pg_ctlcluster", ver, name, "start"], check=False)
    if subprocess.run(["pg_isready", "-q"]).returncode == 0:
        user = os.environ.get("USER") or "root"
        if os.geteuid() == 0:
            probe = subprocess.run(
                ["psql", "-d", "postgres", "-tAc", "select 1"], capture_output=True
            )
            if probe.returncode != 0:
                subprocess.run(
                    ["su", "postgres", "-c", f"createuser -s {user}"],
                    check=False,
                    capture_output=True,
                )
        return {}
    return throwaway_cluster()


def throwaway_cluster():
    """A private PostgreSQL cluster in the cache, for machines without one running."""
    bindir = next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None
    )
    if not bindir or not (bindir / "initdb").exists():
        sys.exit(
            "No PostgreSQL server found: install PostgreSQL 15 "
            "(apt-get install postgresql) "
            "or point PGHOST/PGPORT at one."
        )
    data = CACHE / "pgdata"
    sock = CACHE / "pgsock"
    sock.mkdir(parents=True, exist_ok=True)
    owner = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        owner = ["runuser", "-u", "postgres", "--"]
        for path in (data, sock):
            path.mkdir(parents=True, exist_ok=True)
            shutil.chown(path, "postgres", "postgres")
        CACHE.chmod(0o755)
    if not (data / "PG_VERSION").exists():
        run(
            owner + [bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust"],
            stdout=subprocess.DEVNULL,
        )
    env = {"PGHOST": str(sock), "PGPORT": "5433", "PGUSER": "postgres"}
    if subprocess.run(["pg_isready", "-q", "-h", sock, "-p", "5433"]).returncode != 0:
        run(
            owner
            + [
                bindir / "pg_ctl",
                "-D",
                data,
                "-l",
                data / "server.log",
                "-w",
                "start",
                "-o",
                f"-k {sock} -p 5433 -c listen_addresses=''",
            ]
        )
    os.environ.update(env)
    return env


# --- Odoo helpers ---------------------------------------------------------------------


def addons_link():
    """A folder holding only a ``pos_centrapay`` link to this checkout."""
    extra = CACHE / "addons" / digest(REPO)
    extra.mkdir(parents=True, exist_ok=True)
    link = extra / MODULE
    if not link.is_symlink() or link.resolve() != REPO:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(REPO)
    return extra


def odoo_launcher():
    """Odoo's launcher script (what ``odoo-bin`` does), kept in the cache.

    Not ``python -m odoo``: with ``--workers`` the prefork server spawns its
    websocket (gevent) process as ``python sys.argv[0] gevent ...``, and
    ``odoo/__main__.py`` run as a script fails on its relative import, in a
    loop. Not the tree's own ``odoo-bin`` either: Python puts the script's
    (resolved) folder first on ``sys.path``, which would import the full tree,
    enterprise addons included, instead of the community view on the venv's path.
    """
    launcher = CACHE / "bin" / "odoo"
    text = (
        "#!/usr/bin/env python3\n"
        "# Written by pos_centrapay's tools/dev.py: what odoo-bin does.\n"
        "__import__('os').environ['TZ'] = 'UTC'\n"
        "import odoo\n\n"
        "if __name__ == '__main__':\n"
        "    odoo.cli.main()\n"
    )
    if not launcher.exists() or launcher.read_text() != text:
        launcher.parent.mkdir(parents=True, exist_ok=True)
        tmp = launcher.with_suffix(f".{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(launcher)
    return launcher


def odoo_cmd(venv, view, db, *args, command=None):
    return [
        venv / "bin" / "python",
        odoo_launcher(),
        *([command] if command else []),
        "--addons-path",
        f"{view / 'odoo' / 'addons'},{addons_link()}",
        "-d",
        db,
        "--db-filter",
        f"^{db}$",
        *args,
    ]


def db_exists(name):
    out = subprocess.run(
        [
            "psql",
            "-d",
            "postgres",
            "-tAc",
            f"select 1 from pg_database where datname='{name}'",
        ],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() == "1"


def filestore(db):
    """Where Odoo keeps the files (attachments: the company logo...) of ``db``:
    its default data directory, as no command here sets one."""
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "Odoo" / "filestore" / db


def move_filestore(old, new):
    """A renamed database keeps its files: move them to its new name."""
    if filestore(old).is_dir() and not filestore(new).exists():
        filestore(new).parent.mkdir(parents=True, exist_ok=True)
        filestore(old).rename(filestore(new))


def copy_filestore(template, name):
    """``createdb -T`` copies the tables, not the files they point to: without
    this copy, every attachment of the template (the company logo...) is a
    FileNotFoundError in the new database's log."""
    shutil.rmtree(filestore(name), ignore_errors=True)
    if filestore(template).is_dir():
        shutil.copytree(filestore(template), filestore(name))


def fill_filestore(template, name):
    """Give a database made before :func:`copy_filestore` the template's files
    it lacks; its own files are kept."""
    source, target = filestore(template), filestore(name)
    if not source.is_dir():
        return
    for path in source.rglob("*"):
        dest = target / path.relative_to(source)
        if path.is_file() and not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)


def base_template(venv, view):
    """A cached database with our dependencies (and demo data) installed."""
    manifest = eval((REPO / "__manifest__.py").read_text())
    deps = sorted(manifest["depends"])
    name = f"pcp_base_{digest(view, *deps)}"
    if db_exists(name):
        move_filestore(name + "_tmp", name)  # a template built before the move
        return name
    say(f"building template database {name} with {', '.join(deps)} (first run only)")
    tmp = name + "_tmp"
    subprocess.run(["dropdb", "--if-exists", tmp], check=True)
    run(
        odoo_cmd(
            venv,
            view,
            tmp,
            "-i",
            ",".join(deps),
            "--stop-after-init",
            "--log-level=warn",
        )
    )
    run(["psql", "-d", "postgres", "-c", f'ALTER DATABASE "{tmp}" RENAME TO "{name}"'])
    move_filestore(tmp, name)
    return name


def fresh_db(venv, view, name, logfile):
    """A new database, from the template, with pos_centrapay installed."""
    template = base_template(venv, view)
    subprocess.run(["dropdb", "--if-exists", "--force", name], check=True)
    run(["createdb", "-T", template, name])
    copy_filestore(template, name)
    with open(logfile, "w") as log:
        res = run(
            odoo_cmd(venv, view, name, "-i", MODULE, "--stop-after-init"),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if res.returncode != 0:
        print(Path(logfile).read_text()[-5000:])
        sys.exit(f"installing {MODULE} failed, see {logfile}")
    return name


LOG_LINE = re.compile(r"^\S+ \S+ \d+ (WARNING|ERROR|CRITICAL) \S+ (\S+): (.*)$")


def checklog(path):
    """ERROR/WARNING log lines from, or about, our module (OCA checklog style)."""
    bad = []
    for line in Path(path).read_text(errors="replace").splitlines():
        m = LOG_LINE.match(line)
        if m and m.group(1) == "WARNING" and m.group(2).endswith(".browser"):
            # A tour's browser console: the core POS client's own warnings (the
            # bus reconnecting after a reload, for example). Its errors still count.
            continue
        if m and (
            m.group(2).startswith(f"odoo.addons.{MODULE}") or MODULE in m.group(3)
        ):
            bad.append(line)
    return bad


# --- Tiers ----------------------------------------------------------------------------


def junit_counts(path):
    """(passed, failed, skipped) from a JUnit XML report."""
    if not Path(path).exists():
        return 0, 1, 0
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return tests - failed - skipped, failed, skipped


def lint_tier():
    venv = ensure_venv("venv-lint", LINT_REQUIREMENTS)
    node = CACHE / "node"
    stamp = node / ".pcp-stamp"
    if not stamp.exists() or stamp.read_text() != digest(*NODE_PACKAGES):
        node.mkdir(parents=True, exist_ok=True)
        run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                node,
                *NODE_PACKAGES,
            ]
        )
        stamp.write_text(digest(*NODE_PACKAGES))
    env = dict(os.environ)
    env["PATH"] = f"{venv / 'bin'}:{node / 'node_modules' / '.bin'}:{env['PATH']}"
    env["NODE_PATH"] = str(node / "node_modules")
    env["PRE_COMMIT_HOME"] = str(CACHE / "pre-commit")
    # prettier resolves its plugins from the project: a git-ignored link suffices.
    modules_link = REPO / "node_modules"
    if not modules_link.exists():
        modules_link.symlink_to(node / "node_modules")
    res = run(
        [venv / "bin" / "pre-commit", "run", "--all-files", "--show-diff-on-failure"],
        cwd=REPO,
        env=env,
        check=False,
    )
    return res.returncode == 0


def lite_tier(reports, only=None):
    venv = ensure_venv("venv-lite", LITE_REQUIREMENTS + module_requirements())
    xml = reports / "lite.xml"
    # The repo root is an Odoo addon (its __init__.py imports odoo): rooting pytest
    # in the test folder keeps it from importing the root as a package.
    run(
        [
            venv / "bin" / "python",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir=centrapay/tests",
            f"--junitxml={xml}",
            *(only or ["centrapay/tests"]),
        ],
        cwd=REPO,
        check=False,
    )
    return junit_counts(xml)


def odoo_tier(reports, view, only=None):
    venv = odoo_venv(view)
    chromium()
    postgres()
    # One database per checkout, so that two clones can test at the same time.
    db = f"pcp_test_{digest(REPO)[:8]}"
    install_log = reports / "install.log"
    started = time.time()
    fresh_db(venv, view, db, install_log)
    say(f"module installed in {time.time() - started:.0f}s")
    problems = [f"install: {line}" for line in checklog(install_log)]
    xml = reports / "odoo.xml"
    test_log = reports / "odoo-tests.log"
    addons = f"{view / 'odoo' / 'addons'},{addons_link()}"
    conf = reports / "odoo.conf"
    # A free HTTP port, so that two checkouts can run their tours at the same time.
    http_port = free_port_block(ODOO_TEST_PORT, 1)
    conf.write_text(
        f"[options]\naddons_path = {addons}\nlogfile = {test_log}\n"
        f"log_level = info\ndb_name = {db}\nhttp_port = {http_port}\n"
    )
    cmd = [
        venv / "bin" / "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--odoo-config={conf}",
        f"--odoo-database={db}",
        "--odoo-http",
        "--odoo-log-level=info",
        f"--odoo-extra=test-tags=/{MODULE}",
        "--odoo-extra=test-enable",
        f"--junitxml={xml}",
        *[addons_link() / MODULE / path for path in (only or ["tests"])],
    ]
    env = dict(os.environ, ODOO_RC=str(conf))
    run(cmd, cwd=addons_link() / MODULE, env=env, check=False)
    problems += [f"tests: {line}" for line in checklog(test_log)]
    subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)
    passed, failed, skipped = junit_counts(xml)
    if problems:
        say("ERROR/WARNING log lines from pos_centrapay (each fails the run):")
        for line in problems:
            print("   " + line)
        failed += len(problems)
    return passed, failed, skipped


def free_port_block(start, size, tries=40):
    """The first port from ``start`` (in steps of 100) with ``size`` free ports."""
    for base in range(start, start + 100 * tries, 100):
        try:
            for port in range(base, base + size):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    sys.exit(f"No {size} free ports from {start}.")


def topology_tier(reports, view):
    """Production topology, in short: ``demo --servers 2 --workers 2`` behind nginx.

    On a database of its own and a fresh sandbox: the payment flow in headless
    Chromium through nginx with one Odoo server SIGKILLed while payments wait
    (``tools/topology_check.py``), then a short fault soak with a server killed
    and Centrapay down (``tools/soak.py``). Each script is one test.
    """
    venv = odoo_venv(view)
    port = free_port_block(TOPOLOGY_TEST_PORT, 6)
    sandbox_port = free_port_block(TOPOLOGY_TEST_PORT + 50, 1)
    db = f"pcp_topo_{digest(REPO)[:8]}"
    shutil.rmtree(CACHE / f"demo-sandbox-{sandbox_port}", ignore_errors=True)
    demo_log = reports / "topology-demo.log"
    say(f"topology tier: demo --servers 2 --workers 2 on port {port}, log {demo_log}")
    with open(demo_log, "wb") as log:
        demo = subprocess.Popen(
            [sys.executable, __file__, "demo", "--servers", "2", "--workers", "2"]
            + ["--port", str(port), "--sandbox-port", str(sandbox_port)]
            + ["--db", db, "--reset"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    results = {}
    try:
        state = topology_dir(port) / "topology.json"
        state.unlink(missing_ok=True)
        deadline = time.monotonic() + 900
        while not state.exists() and demo.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(2)
        if not state.exists():
            say(f"the topology demo did not start: see {demo_log}")
            return 0, 1, 0
        python = str(venv / "bin" / "python")
        scripts = {
            "topology_check": [
                python,
                REPO / "tools" / "topology_check.py",
                "--port",
                port,
                "--runs",
                "5",
                "--kill-test",
            ],
            "soak": [
                python,
                REPO / "tools" / "soak.py",
                "--port",
                port,
                "--payments",
                "200",
                "--accounts",
                "2",
                "--kill-odoo",
                "--outage",
                "20",
                "--max-minutes",
                "10",
                "--seed",
                "1",
            ],
        }
        for name, cmd in scripts.items():
            out = reports / f"topology-{name}.log"
            started = time.time()
            with open(out, "wb") as log:
                code = subprocess.run(
                    [str(c) for c in cmd],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=REPO,
                    check=False,
                ).returncode
            results[name] = code == 0
            say(
                f"  {name}: {'passed' if code == 0 else 'FAILED'} "
                f"in {time.time() - started:.0f}s (output: {out})"
            )
            if code:
                print(out.read_text(errors="replace")[-6000:], flush=True)
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)
    passed = sum(results.values())
    return passed, len(results) - passed, 0


def cmd_test(args):
    reports = CACHE / "reports" / digest(REPO)
    if reports.exists():
        shutil.rmtree(reports)
    reports.mkdir(parents=True)
    totals = [0, 0, 0]
    timings = {}
    ok = True
    if not args.no_lint:
        t = time.time()
        lint_ok = lint_tier()
        timings["lint"] = time.time() - t
        if not lint_ok:
            say("lint FAILED")
            ok = False
    only = args.only or []
    lite_only = [p for p in only if p.startswith("centrapay/")]
    odoo_only = [p for p in only if not p.startswith("centrapay/")]
    t = time.time()
    counts = (0, 0, 0) if only and not lite_only else lite_tier(reports, lite_only)
    timings["odoo-free tier"] = time.time() - t
    say("odoo-free tier: {} passed, {} failed, {} skipped".format(*counts))
    totals = [a + b for a, b in zip(totals, counts, strict=True)]
    src = odoo_source()
    if src is None:
        banner(
            [
                "ODOO TIER SKIPPED: no Odoo 18.0 source tree available.",
                "Only the Odoo-free tests ran. To run the Odoo tests and tours,",
                "set ODOO_SRC to an Odoo 18.0 source tree and run this command again:",
                "  ODOO_SRC=/path/to/odoo-18.0 python3 tools/dev.py test",
            ]
        )
    else:
        t = time.time()
        counts = (
            (0, 0, 0)
            if only and not odoo_only
            else odoo_tier(reports, community_tree(src), odoo_only)
        )
        timings["odoo tier"] = time.time() - t
        say("odoo tier: {} passed, {} failed, {} skipped".format(*counts))
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        if args.no_topology or only:
            say("TOPOLOGY TIER SKIPPED (--no-topology or --only)")
        else:
            t = time.time()
            counts = topology_tier(reports, community_tree(src))
            timings["topology tier"] = time.time() - t
            say("topology tier: {} passed, {} failed".format(*counts[:2]))
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
    for name, secs in timings.items():
        say(f"wall time {name}: {secs:.0f}s")
    if totals[1] or not ok:
        ok = False
    line = f"{totals[0]} passed, {totals[1]} failed"
    if totals[2]:
        line += f", {totals[2]} skipped"
    print(line, flush=True)
    return 0 if ok and totals[0] > 0 else 1


# --- Demo ----------------------------------------------------------------------------

# The production topology (``demo --workers N``): Odoo's limits, stated explicitly.
# An HTTP worker is killed when one request takes longer (Odoo's default).
HTTP_TIME_LIMIT = 120
# The cron worker keeps Odoo's default watchdog (--limit-time-real-cron unset: the
# limit above): the status engine's calls of one job run start no Centrapay
# call after 60 s (const.ENGINE_RUN_SECONDS).
# Where the test command's Odoo tier looks for a free HTTP port.
ODOO_TEST_PORT = 18069
# Where the test command's topology tier looks for free ports.
TOPOLOGY_TEST_PORT = 28269
# The threaded demo's database pool, under PostgreSQL's default 100 connections:
# a cursor per RPC being served (a thread each, as many as come: Odoo's
# default), two more per create running (const.CREATES_AT_ONCE) and the status
# engine's (a connection per account thread, and two per read at once:
# const.ENGINE_ACCOUNT_THREADS). The HTTP threads are not capped: a cap
# (ODOO_MAX_HTTP_THREADS) counts each open websocket, a POS or customer display
# that stays open, and 20 of them would leave no thread for the tills' calls.
THREADED_DB_MAXCONN = 95
# nginx's upstream timeouts: a websocket idles up to this long between frames.
PROXY_TIMEOUT = 720


class _Stop(Exception):
    """SIGTERM: stop the demo as Ctrl-C does."""


def _raise_stop(signum, frame):
    raise _Stop()


def nginx():
    """Debian's nginx (installed when missing); the demo runs its own instance."""
    ensure_debian_packages(["nginx"], binary="nginx")
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        sys.exit("nginx is missing: apt-get install nginx")
    return found


def topology_dir(port):
    """Where ``demo --workers`` keeps nginx's files, the logs and topology.json;
    any demo on that port keeps ``demo.json`` and its restart requests there."""
    return CACHE / f"topology-{port}"


def restart_request(port, name):
    """A file asking the demo on ``port`` to start its process ``name`` again.

    Written by a fault test (``tools/soak.py``) before it kills the process
    (an Odoo server, the sandbox); it holds the Unix time before which the
    process stays down. The demo removes it once the process runs again.
    """
    return topology_dir(port) / f"restart-{name}"


def nginx_conf(topo, listen, servers):
    """Odoo's documented nginx setup: /websocket to the gevent port(s), the rest
    to the HTTP port(s), over one upstream per kind holding every server."""

    def upstream(name, key):
        lines = "".join(
            # Never marked down (max_fails=0): a refused connection (a dead
            # server) goes to the next server at once, and an overloaded server's
            # connect time-out does not send every till to the other one, which
            # then overflows too ("no live upstreams"). nginx never re-sends a
            # request that a server received.
            f"        server 127.0.0.1:{s[key]} max_fails=0;\n"
            for s in servers
        )
        return f"    upstream {name} {{\n{lines}    }}\n"

    forwarded = (
        "            proxy_set_header X-Forwarded-Host $http_host;\n"
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "            proxy_set_header X-Forwarded-Proto $scheme;\n"
        "            proxy_set_header X-Real-IP $remote_addr;\n"
    )
    tmp = topo / "tmp"
    # Run as root, nginx's workers would switch to www-data, which cannot write the
    # temporary files below in root's cache: keep them root for this local demo.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""# Written by pos_centrapay's tools/dev.py demo; rewritten at each start.
{user}worker_processes auto;
pid {topo / "nginx.pid"};
error_log {topo / "nginx-error.log"} notice;
events {{
    worker_connections 1024;
}}
http {{
    log_format topology '$time_iso8601 "$request" $status $body_bytes_sent '
        'rt=$request_time upstream=$upstream_addr upstream_status=$upstream_status';
    access_log {topo / "nginx-access.log"} topology;
    client_body_temp_path {tmp / "body"};
    proxy_temp_path {tmp / "proxy"};
    fastcgi_temp_path {tmp / "fastcgi"};
    uwsgi_temp_path {tmp / "uwsgi"};
    scgi_temp_path {tmp / "scgi"};
    default_type application/octet-stream;
    client_max_body_size 64m;
{upstream("odoo", "http_port")}{upstream("odoochat", "gevent_port")}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
    server {{
        listen {listen};
        proxy_read_timeout {PROXY_TIMEOUT}s;
        proxy_send_timeout {PROXY_TIMEOUT}s;
        proxy_connect_timeout 5s;
        proxy_next_upstream error timeout;
        gzip on;
        gzip_types text/css text/plain text/xml application/xml application/json
            application/javascript;
        # The bus: websockets go to Odoo's gevent process.
        location /websocket {{
            proxy_pass http://odoochat;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
{forwarded}        }}
        location / {{
            proxy_pass http://odoo;
            proxy_redirect off;
{forwarded}        }}
    }}
}}
"""


def wait_for_port(port, proc, what, timeout=180):
    """Wait until 127.0.0.1:port accepts connections; exit if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode} before listening.")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"{what} did not listen on port {port} within {timeout}s.")


def start_topology(args, venv, view, db, procs, launch):
    """N Odoo servers (prefork workers, a cron worker, a gevent process each)
    behind one nginx on the demo's port. Returns the topology description."""
    nginx_bin = nginx()
    topo = topology_dir(args.port)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (topo / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    for old_log in topo.glob("*.log"):  # each demo starts with fresh logs
        old_log.unlink()
    servers = []
    for index in range(args.servers):
        http_port = args.port + 1 + 2 * index
        server = {
            "name": f"odoo{index + 1}",
            "http_port": http_port,
            "gevent_port": http_port + 1,
            "log": str(topo / f"odoo{index + 1}.log"),
        }
        cmd = odoo_cmd(
            venv,
            view,
            db,
            "--http-interface",
            "127.0.0.1",
            "--http-port",
            server["http_port"],
            "--gevent-port",
            server["gevent_port"],
            "--workers",
            args.workers,
            "--max-cron-threads",
            1,
            "--proxy-mode",
            "--limit-time-real",
            HTTP_TIME_LIMIT,
            "--logfile",
            server["log"],
        )
        say("$ " + " ".join(str(c) for c in cmd))
        # A process group of its own: stopping (or killing) a server reaches its
        # workers and its gevent process too.
        launch[server["name"]] = (
            [str(c) for c in cmd],
            {"start_new_session": True},
        )
        proc = start_process(launch, server["name"])
        procs.append((server["name"], proc))
        server["pid"] = proc.pid
        servers.append(server)
    for server, (name, proc) in zip(servers, procs[-len(servers) :], strict=True):
        wait_for_port(server["http_port"], proc, f"Odoo server {name}")
        wait_for_port(server["gevent_port"], proc, f"the gevent process of {name}")
    conf = topo / "nginx.conf"
    conf.write_text(nginx_conf(topo, f"{args.host}:{args.port}", servers))
    nginx_cmd = [nginx_bin, "-p", topo, "-c", conf, "-e", topo / "nginx-error.log"]
    run(nginx_cmd + ["-t", "-q"])
    say("$ " + " ".join(str(c) for c in nginx_cmd) + " -g 'daemon off;'")
    proc = subprocess.Popen([str(c) for c in nginx_cmd + ["-g", "daemon off;"]])
    procs.append(("nginx", proc))
    wait_for_port(args.port, proc, "nginx", timeout=30)
    return {
        "nginx": {
            "pid": proc.pid,
            "conf": str(conf),
            "access_log": str(topo / "nginx-access.log"),
            "error_log": str(topo / "nginx-error.log"),
        },
        "servers": servers,
        "workers": args.workers,
    }


def stop_process(name, proc, group=False):
    """SIGTERM, then SIGKILL after 30 s; ``group``: its whole process group."""
    if proc.poll() is None:
        say(f"stopping {name}")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in 30 s: killing it")
            proc.kill()
            proc.wait(timeout=10)
    if group:  # workers or a gevent process left behind by a killed master
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def start_process(launch, name):
    """Start ``name`` with its command and ``Popen`` options from ``launch``."""
    cmd, options = launch[name]
    return subprocess.Popen(cmd, **options)


def supervise(port, procs, launch, describe):
    """Run until Ctrl-C (or SIGTERM), nginx stops or every Odoo server is gone.

    A process (not nginx) that exits while its ``restart_request`` file exists is
    started again with the same command once the time in that file has come;
    ``describe()`` then records the new process ids.
    """
    reported = set()
    while True:
        for index, (name, proc) in enumerate(procs):
            if proc.poll() is None or name in reported:
                continue
            request = restart_request(port, name)
            if name in launch and request.exists():
                try:
                    down_until = float(request.read_text() or 0)
                except (OSError, ValueError):
                    down_until = 0
                if time.time() < down_until:
                    continue
                say(f"{name} exited with {proc.returncode}: starting it again")
                procs[index] = (name, start_process(launch, name))
                request.unlink(missing_ok=True)
                describe()
                continue
            reported.add(name)
            say(f"{name} exited with {proc.returncode}")
        if "nginx" in reported:
            return
        if all(name in reported for name, _ in procs if name.startswith("odoo")):
            return
        time.sleep(0.5)


def write_demo_description(port, described, procs):
    """``demo.json`` (any demo) and ``topology.json`` (the topology) with the
    current process ids: what a fault test reads to kill and restart one."""
    pids = {name: proc.pid for name, proc in procs}
    for server in described.get("servers", []):
        server["pid"] = pids.get(server["name"], server["pid"])
    if "nginx" in described:
        state_file = topology_dir(port) / "topology.json"
        state_file.write_text(json.dumps(described, indent=2) + "\n")
    demo = {
        key: described[key]
        for key in ("base_url", "pos_path", "db", "sandbox_url", "credentials")
    }
    demo.update(
        pid=os.getpid(),
        processes=pids,
        topology="nginx" in described,
        restart_requests=str(topology_dir(port)),
    )
    (topology_dir(port) / "demo.json").write_text(json.dumps(demo, indent=2) + "\n")


def update_module(venv, view, db):
    """Update the addon in ``db``; its output goes to ``demo-update.log``."""
    update_log = CACHE / "demo-update.log"
    with update_log.open("w") as log:
        done = run(
            odoo_cmd(venv, view, db, "-u", MODULE, "--stop-after-init"),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode:
        sys.exit(f"Updating {MODULE} in {db} failed: see {update_log}")


def cmd_demo(args):
    src = odoo_source()
    if src is None:
        sys.exit(
            "The demo needs Odoo 18.0: set ODOO_SRC to an Odoo 18.0 source tree "
            "(for example a checkout of github.com/odoo/odoo at branch 18.0)."
        )
    if args.servers < 1 or args.workers < 0:
        sys.exit("--servers must be at least 1 and --workers at least 0.")
    topology = args.workers > 0 or args.servers > 1
    if topology and not args.workers:
        args.workers = 2
    view = community_tree(src)
    venv = odoo_venv(view)
    postgres()
    if topology:
        nginx()  # installed before anything starts
    # Port 8900 keeps the state it always had; another port gets its own, so two
    # demos on one machine do not share (and overwrite) one sandbox's state.
    state = CACHE / (
        "demo-sandbox"
        if args.sandbox_port == 8900
        else f"demo-sandbox-{args.sandbox_port}"
    )
    state.mkdir(parents=True, exist_ok=True)
    host = args.host
    # The URL that reaches Odoo (through nginx in the topology). Webhooks are
    # signed for it (their audience is web.base.url + the webhook path), so Odoo's
    # web.base.url and the sandbox's webhook URL are both set to it.
    url_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base_url = f"http://{url_host}:{args.port}"
    sandbox_cmd = [
        venv / "bin" / "python",
        "-m",
        "centrapay.sandbox",
        "--host",
        host,
        "--port",
        str(args.sandbox_port),
        "--state",
        state / "state.json",
        "--webhook-url",
        f"{base_url}/pos_centrapay/webhook",
        # Saved at most every second: a demo's state grows to thousands of
        # requests, and writing it at every change slows the sandbox down.
        "--save-interval",
        "1",
    ]
    if args.public_url:
        sandbox_cmd += ["--public-url", args.public_url]
    creds_file = state / "credentials.json"
    creds_file.unlink(missing_ok=True)
    signal.signal(signal.SIGTERM, _raise_stop)
    procs = []
    # How to start each process again (restart_request): command, Popen options.
    launch = {"sandbox": ([str(c) for c in sandbox_cmd], {"cwd": REPO})}
    for old in topology_dir(args.port).glob("restart-*"):
        old.unlink()
    try:
        topology_dir(args.port).mkdir(parents=True, exist_ok=True)
        sandbox = start_process(launch, "sandbox")
        procs.append(("sandbox", sandbox))
        for _ in range(100):
            if creds_file.exists() or sandbox.poll() is not None:
                break
            time.sleep(0.1)
        if sandbox.poll() is not None or not creds_file.exists():
            sys.exit("The Centrapay sandbox did not start (is the port free?).")
        creds = json.loads(creds_file.read_text())
        db = args.db
        if args.reset or not db_exists(db):
            fresh_db(venv, view, db, CACHE / "demo-install.log")
        else:  # the checkout may have changed since the last demo
            fill_filestore(base_template(venv, view), db)
            update_module(venv, view, db)
        for script in ("demo_configure.py", "demo_data.py"):
            run(
                odoo_cmd(venv, view, db, "--no-http", command="shell"),
                input=(REPO / "tools" / script).read_bytes(),
                stdout=subprocess.DEVNULL,
                env=dict(
                    os.environ,
                    CENTRAPAY_DEMO_CREDENTIALS=str(creds_file),
                    CENTRAPAY_DEMO_BASE_URL=base_url,
                ),
            )
        config_id = subprocess.run(
            [
                "psql",
                "-d",
                db,
                "-tAc",
                "SELECT res_id FROM ir_model_data WHERE module='pos_centrapay' "
                "AND name='pos_config_centrapay_cafe'",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        pos_path = f"/pos/ui?config_id={config_id}"
        lines = [
            f"POS:      {base_url}{pos_path}",
            f"Login:    admin / admin   (database {db})",
            f"Sandbox:  {creds['base_url']}  (control API under /_sandbox)",
            "Pay a QR: open its URL in another browser and press Pay.",
        ]
        described = dict(
            base_url=base_url,
            pos_path=pos_path,
            db=db,
            sandbox_url=creds["base_url"],
            credentials=str(creds_file),
        )

        def describe():
            write_demo_description(args.port, described, procs)

        if not topology:
            # A topology demo on this port left its description: it is gone now.
            (topology_dir(args.port) / "topology.json").unlink(missing_ok=True)
            banner(lines)
            launch["odoo"] = (
                [
                    str(c)
                    for c in odoo_cmd(
                        venv,
                        view,
                        db,
                        "--http-interface",
                        host,
                        "--http-port",
                        str(args.port),
                        # One threaded process serves every till: with 50 tills
                        # waiting at once, Odoo's default pool of 64 runs out.
                        "--db_maxconn",
                        str(THREADED_DB_MAXCONN),
                    )
                ],
                {},
            )
            procs.append(("odoo", start_process(launch, "odoo")))
            describe()
            supervise(args.port, procs, launch, describe)
            return
        described.update(start_topology(args, venv, view, db, procs, launch))
        describe()
        lines += [
            f"nginx:    {host}:{args.port} -> "
            + ", ".join(
                f"{s['name']} (HTTP {s['http_port']}, websocket {s['gevent_port']})"
                for s in described["servers"]
            ),
            f"Odoo:     --workers {args.workers} --max-cron-threads 1 per server, "
            "proxy_mode",
            f"Logs:     {topology_dir(args.port)}",
            "Check:    tools/topology_check.py --port "
            f"{args.port} (with the Odoo venv's python)",
        ]
        banner(lines)
        supervise(args.port, procs, launch, describe)
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        (topology_dir(args.port) / "demo.json").unlink(missing_ok=True)
        for name, proc in reversed(procs):
            stop_process(name, proc, group=topology and name.startswith("odoo"))


def cmd_sandbox(args):
    """Run the Centrapay sandbox on its own, in the Odoo-free virtualenv."""
    venv = ensure_venv("venv-lite", LITE_REQUIREMENTS + module_requirements())
    cmd = [venv / "bin" / "python", "-m", "centrapay.sandbox", *args.sandbox_args]
    try:
        return subprocess.run([str(c) for c in cmd], cwd=REPO, check=False).returncode
    except KeyboardInterrupt:
        return 0


def cmd_pot(args):
    """Export i18n/pos_centrapay.pot from a database with the module installed."""
    src = odoo_source()
    if src is None:
        sys.exit("Exporting translations needs Odoo 18.0: set ODOO_SRC.")
    view = community_tree(src)
    venv = odoo_venv(view)
    postgres()
    # One database per checkout, as for the tests: two clones may export at once.
    db = f"pcp_pot_{digest(REPO)[:8]}"
    fresh_db(venv, view, db, CACHE / f"pot-install-{digest(REPO)[:8]}.log")
    (REPO / "i18n").mkdir(exist_ok=True)
    try:
        run(
            odoo_cmd(
                venv,
                view,
                db,
                f"--i18n-export={REPO / 'i18n' / f'{MODULE}.pot'}",
                f"--modules={MODULE}",
                "--stop-after-init",
            )
        )
    finally:
        subprocess.run(["dropdb", "--if-exists", "--force", db], check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser(
        "test", help="run lint, the Odoo-free tests and the Odoo tests and tours"
    )
    t.add_argument(
        "--no-lint", action="store_true", help="skip the linters (not for CI)"
    )
    t.add_argument(
        "--no-topology",
        action="store_true",
        help="skip the production-topology tier (not for CI)",
    )
    t.add_argument(
        "--only",
        nargs="+",
        action="extend",
        metavar="PATH",
        help="run only these test files (or file::test ids), e.g. "
        "tests/test_security.py centrapay/tests/test_money.py (not for CI)",
    )
    d = sub.add_parser(
        "demo", help="run the sandbox and Odoo with a configured Centrapay POS"
    )
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8069)
    d.add_argument("--sandbox-port", type=int, default=8900)
    d.add_argument("--db", default="pos_centrapay_demo")
    d.add_argument("--reset", action="store_true", help="recreate the demo database")
    d.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run Odoo's production topology: N prefork HTTP workers, a cron "
        "worker and a gevent websocket process per server, behind nginx on --port",
    )
    d.add_argument(
        "--servers",
        type=int,
        default=1,
        help="Odoo servers behind nginx (implies --workers 2 unless given); "
        "server i listens on --port + 2i - 1 (HTTP) and --port + 2i (websocket)",
    )
    d.add_argument(
        "--public-url",
        help="the sandbox URL a phone can reach, e.g. http://192.168.1.20:8900",
    )
    sub.add_parser("pot", help="export the module's translation template")
    sub.add_parser(
        "sandbox", help="run the Centrapay sandbox alone (options: --host, --port, ...)"
    )
    # The sandbox's own options pass through untouched.
    args, rest = parser.parse_known_args()
    if rest and args.cmd != "sandbox":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.sandbox_args = rest
    commands = {
        "test": cmd_test,
        "demo": cmd_demo,
        "pot": cmd_pot,
        "sandbox": cmd_sandbox,
    }
    return commands[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
