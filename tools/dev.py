#!/usr/bin/env python3
"""Developer tooling for pos_centrapay: ``demo`` and ``test``.

Everything it builds lives outside the checkout, in ``$POS_CENTRAPAY_CACHE``
(default ``~/.cache/pos_centrapay``), so a fresh clone on the same machine reuses it.
Odoo comes from ``ODOO_SRC`` (an Odoo 18.0 source tree); the path is remembered in
the cache for later runs.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
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
# Tests read back the rendered QR code (centrapay/qr_decode.py): an SVG renderer
# (on Debian's libcairo2) and a QR decoder, both wheels.
QR_READER_REQUIREMENTS = ["cairosvg==2.9.1", "zxing-cpp==3.1.1"]
QR_READER_DEBIAN_PACKAGES = ["libcairo2"]
# Pins match what Odoo 18 installs, so the Odoo-free tier tests the same stack.
LITE_REQUIREMENTS = [
    "cryptography==3.4.8",
    "requests==2.31.0",
    "urllib3==1.26.5",
    "idna==2.10",
    "qrcode==7.4.2",
    "pytest>=8,<10",
    *QR_READER_REQUIREMENTS,
]
ODOO_EXTRA_REQUIREMENTS = [
    "pytest>=8,<10",
    "pytest-odoo==2.3.0",
    "websocket-client",
    *QR_READER_REQUIREMENTS,
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
    """A cached virtualenv holding ``requirements`` (``CACHE/name-<digest>``).

    Each set of requirements has its own folder, so checkouts whose
    requirements differ (branches) share the cache without rebuilding each
    other's virtualenv under a running demo or test. ``CACHE/name`` links to
    the one last asked for; a real folder there (made by an older dev.py, which
    may still be running) is left alone.
    """
    key = digest(PY, *requirements, *constraints)
    link = CACHE / name
    venv = CACHE / f"{name}-{key}"
    stamp = venv / ".pcp-stamp"
    if not (stamp.exists() and stamp.read_text() == key):
        build_venv(venv, requirements, constraints)
        stamp.write_text(key)
    if not link.exists() or (link.is_symlink() and os.readlink(link) != venv.name):
        tmp = CACHE / f".{name}.link"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(venv.name)
        os.replace(tmp, link)
    return venv


def build_venv(venv, requirements, constraints):
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
    ensure_debian_packages(QR_READER_DEBIAN_PACKAGES)
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


def odoo_cmd(venv, view, db, *args, command=None):
    return [
        venv / "bin" / "python",
        "-m",
        "odoo",
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


def base_template(venv, view):
    """A cached database with our dependencies (and demo data) installed."""
    manifest = eval((REPO / "__manifest__.py").read_text())
    deps = sorted(manifest["depends"])
    name = f"pcp_base_{digest(view, *deps)}"
    if db_exists(name):
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
    return name


def fresh_db(venv, view, name, logfile):
    """A new database, from the template, with pos_centrapay installed."""
    template = base_template(venv, view)
    subprocess.run(["dropdb", "--if-exists", "--force", name], check=True)
    run(["createdb", "-T", template, name])
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


def lite_tier(reports):
    ensure_debian_packages(QR_READER_DEBIAN_PACKAGES)
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
            "centrapay/tests",
        ],
        cwd=REPO,
        check=False,
    )
    return junit_counts(xml)


def odoo_tier(reports, view):
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
    conf.write_text(
        f"[options]\naddons_path = {addons}\nlogfile = {test_log}\n"
        f"log_level = info\ndb_name = {db}\n"
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
        addons_link() / MODULE / "tests",
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
    t = time.time()
    counts = lite_tier(reports)
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
        counts = odoo_tier(reports, community_tree(src))
        timings["odoo tier"] = time.time() - t
        say("odoo tier: {} passed, {} failed, {} skipped".format(*counts))
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


def cmd_demo(args):
    src = odoo_source()
    if src is None:
        sys.exit(
            "The demo needs Odoo 18.0: set ODOO_SRC to an Odoo 18.0 source tree "
            "(for example a checkout of github.com/odoo/odoo at branch 18.0)."
        )
    view = community_tree(src)
    venv = odoo_venv(view)
    postgres()
    state = CACHE / "demo-sandbox"
    state.mkdir(parents=True, exist_ok=True)
    host = args.host
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
        # Odoo and the sandbox share this machine: webhooks go over loopback.
        "--webhook-url",
        f"http://127.0.0.1:{args.port}/pos_centrapay/webhook",
    ]
    if args.public_url:
        sandbox_cmd += ["--public-url", args.public_url]
    creds_file = state / "credentials.json"
    creds_file.unlink(missing_ok=True)
    sandbox = subprocess.Popen(sandbox_cmd, cwd=REPO)
    odoo = None
    try:
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
            run(
                odoo_cmd(venv, view, db, "-u", MODULE, "--stop-after-init"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        run(
            odoo_cmd(venv, view, db, "--no-http", command="shell"),
            input=(REPO / "tools" / "demo_configure.py").read_bytes(),
            stdout=subprocess.DEVNULL,
            env=dict(os.environ, CENTRAPAY_DEMO_CREDENTIALS=str(creds_file)),
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
        pos_url = f"http://{host}:{args.port}/pos/ui?config_id={config_id}"
        banner(
            [
                f"POS:      {pos_url}",
                f"Login:    admin / admin   (database {db})",
                f"Sandbox:  {creds['base_url']}  (control API under /_sandbox)",
                "Pay a QR: open its URL in another browser and press Pay.",
            ]
        )
        odoo = subprocess.Popen(
            odoo_cmd(
                venv,
                view,
                db,
                "--http-interface",
                host,
                "--http-port",
                str(args.port),
                # One threaded process serves every till: with 50 tills waiting
                # at once, Odoo's default pool of 64 connections runs out.
                "--db_maxconn",
                "80",
            )
        )
        odoo.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (odoo, sandbox):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)


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
    db = "pcp_pot"
    fresh_db(venv, view, db, CACHE / "pot-install.log")
    (REPO / "i18n").mkdir(exist_ok=True)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser(
        "test", help="run lint, the Odoo-free tests and the Odoo tests and tours"
    )
    t.add_argument(
        "--no-lint", action="store_true", help="skip the linters (not for CI)"
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
