"""Run nox from a fresh clone with nothing but Python >= 3.11 (standard library only).

    python3 tools/quickstart.py -s sensitivity
    python3 tools/quickstart.py -s tests

Every argument goes to nox unchanged. The first run makes a virtual environment for nox in
``.nox/_quickstart`` with the interpreter that runs this script (so Debian's own python3, whose
pip refuses to install anything: "externally-managed-environment", works as well as a pyenv or
python.org Python) and installs nox into it from the package index; later runs reuse it. The
nox sessions then run on that same interpreter (noxfile.py pins no version); when another
interpreter runs this script, its environment and the sessions' are made anew for it.

Where ``python3 -m venv`` cannot install pip (Debian or Ubuntu without python3-venv: no
ensurepip), the environment is made ``--without-pip`` and pip is installed into it from pip's
own wheel, fetched from the index pip would use ($PIP_INDEX_URL, else ``index-url`` in pip's
configuration files, else PyPI) and checked against the index's SHA-256.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import html.parser
import importlib.util
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

MIN_PYTHON = (3, 11)
NOX = "nox>=2024.4.15"
ROOT = Path(__file__).resolve().parents[1]
ENV_DIR = ROOT / ".nox" / "_quickstart"
MARKER = "quickstart.json"
PYPI = "https://pypi.org/simple"
JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"


def say(msg: str) -> None:
    print(f"quickstart: {msg}", file=sys.stderr, flush=True)


class QuickstartError(Exception):
    pass


# ---------------------------------------------------------------- the environment for nox


def env_python(env_dir: Path) -> Path:
    if os.name == "nt":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def interpreter_id() -> dict:
    """What the environment was made with: recreated when another interpreter runs this."""
    return {"executable": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
            "version": list(sys.version_info[:3])}


def env_is_usable(env_dir: Path) -> bool:
    marker = env_dir / MARKER
    try:
        if json.loads(marker.read_text()) != interpreter_id():
            return False
    except (OSError, ValueError):
        return False
    py = env_python(env_dir)
    return py.exists() and subprocess.run(
        [str(py), "-c", "import nox"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL).returncode == 0


def drop_other_interpreters_sessions(nox_dir: Path, base_prefix: str | None = None) -> None:
    """Remove the session environments in .nox made by another interpreter, which nox would
    reuse as they are (it does not compare interpreters when a session names none)."""
    base_prefix = os.path.realpath(sys.base_prefix if base_prefix is None else base_prefix)
    for d in sorted(nox_dir.glob("*/pyvenv.cfg")):
        cfg = dict(line.partition("=")[::2] for line in d.read_text().splitlines()
                   if "=" in line)
        made_with = {k.strip(): v.strip() for k, v in cfg.items()}.get("base-prefix")
        if made_with and os.path.realpath(made_with) != base_prefix:
            say(f"removing {d.parent.name}: made with the Python in {made_with}")
            shutil.rmtree(d.parent)


def has_ensurepip() -> bool:
    """Debian and Ubuntu ship ensurepip in python3-venv, which a stock system may lack."""
    spec = importlib.util.find_spec("ensurepip")
    return spec is not None and spec.origin not in (None, "namespace")


def make_env(env_dir: Path, *, use_ensurepip: bool | None = None) -> Path:
    """A fresh virtual environment with pip and nox; returns its python."""
    if use_ensurepip is None:
        use_ensurepip = has_ensurepip()
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    py = env_python(env_dir)
    made = False
    if use_ensurepip:
        say(f"making {env_dir} with {sys.executable} ({platform_version()})")
        r = subprocess.run([sys.executable, "-m", "venv", "--clear", str(env_dir)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        made = r.returncode == 0 and py.exists()
        if not made:
            say("python -m venv could not install pip (ensurepip):\n" + r.stdout.strip())
    if not made:
        say(f"making {env_dir} --without-pip with {sys.executable} ({platform_version()}); "
            "pip comes from its wheel on the package index")
        subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip",
                        str(env_dir)], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            wheel = download_pip_wheel(Path(tmp))
            # pip runs from its own wheel (pip's __main__ supports this) to install itself
            subprocess.run([str(py), str(wheel / "pip"), "install", "--quiet", "--no-index",
                            "--disable-pip-version-check", str(wheel)], check=True)
    say(f"installing {NOX}")
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    NOX], check=True)
    (env_dir / MARKER).write_text(json.dumps(interpreter_id()))
    return py


def platform_version() -> str:
    return "Python " + ".".join(map(str, sys.version_info[:3]))


# ---------------------------------------------------------------- pip's wheel from the index


def pip_config_files(environ: dict | None = None, home: Path | None = None) -> list[Path]:
    """pip's configuration files, in the order pip reads them (a later one overrides)."""
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    xdg_dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    files = [Path(d) / "pip" / "pip.conf" for d in reversed(xdg_dirs.split(os.pathsep)) if d]
    files.append(Path("/etc/pip.conf"))
    files.append(home / ".pip" / "pip.conf")
    files.append(home / "Library" / "Application Support" / "pip" / "pip.conf")
    xdg_home = environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    files.append(Path(xdg_home) / "pip" / "pip.conf")
    if environ.get("APPDATA"):
        files.append(Path(environ["APPDATA"]) / "pip" / "pip.ini")
    if environ.get("PIP_CONFIG_FILE"):
        files.append(Path(environ["PIP_CONFIG_FILE"]))
    return files


def pip_setting(name: str, environ: dict | None = None, files: list[Path] | None = None
                ) -> str | None:
    """A pip option as ``pip install`` sees it: $PIP_<NAME>, else the last configuration file
    that sets it, in its [install] section, else its [global] section."""
    environ = os.environ if environ is None else environ
    env_value = environ.get("PIP_" + name.upper().replace("-", "_"))
    if env_value:
        return env_value
    value = None
    for f in pip_config_files(environ) if files is None else files:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(f, encoding="utf-8")
        except (OSError, configparser.Error):
            continue
        for section in ("global", "install"):
            if parser.has_option(section, name):
                value = parser.get(section, name).strip()
    return value or None


def index_url(environ: dict | None = None, files: list[Path] | None = None) -> str:
    url = pip_setting("index-url", environ, files) or PYPI
    return url.split()[0].rstrip("/")


class _Links(html.parser.HTMLParser):
    """The anchors of a PEP 503 simple-index page."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[dict] = []
        self._attrs: dict | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._attrs, self._text = dict(attrs), []

    def handle_data(self, data):
        if self._attrs is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._attrs is not None:
            a = self._attrs
            url, _, fragment = (a.get("href") or "").partition("#")
            hashes = dict([fragment.split("=", 1)]) if "=" in fragment else {}
            self.files.append({
                "filename": "".join(self._text).strip() or url.rsplit("/", 1)[-1],
                "url": url, "hashes": hashes,
                "requires-python": a.get("data-requires-python"),
                "yanked": "data-yanked" in a})
            self._attrs = None


def parse_index_page(body: bytes, content_type: str) -> list[dict]:
    """Files of a project page of a simple index, JSON (PEP 691) or HTML (PEP 503)."""
    if content_type.split(";")[0].strip() == JSON_ACCEPT:
        return json.loads(body.decode("utf-8"))["files"]
    parser = _Links()
    parser.feed(body.decode("utf-8", errors="replace"))
    return parser.files


def python_allowed(requires: str | None, version: tuple[int, ...]) -> bool:
    """A small reading of Requires-Python: the clauses >=, >, <=, <, ==, != on release
    numbers (``.*`` allowed); anything else is taken as satisfied."""
    if not requires:
        return True
    for clause in requires.split(","):
        m = re.fullmatch(r"\s*(>=|<=|==|!=|>|<)\s*([0-9]+(?:\.[0-9]+)*)(\.\*)?\s*", clause)
        if not m:
            continue
        op, num, star = m.groups()
        want = tuple(int(x) for x in num.split("."))
        have = tuple(version[:len(want)]) if star else tuple(version[:3])
        if not star:
            want = (*want, 0, 0, 0)[:3]
        ok = {">=": have >= want, "<=": have <= want, ">": have > want, "<": have < want,
              "==": have == want, "!=": have != want}[op]
        if not ok:
            return False
    return True


def newest_pip_wheel(files: list[dict], version: tuple[int, ...]) -> dict:
    """The newest final release of pip as a universal wheel that this Python may run."""
    best, best_key = None, None
    for f in files:
        m = re.fullmatch(r"pip-([0-9]+(?:\.[0-9]+)*)-py3-none-any\.whl", f.get("filename", ""))
        if not m or f.get("yanked") or not python_allowed(f.get("requires-python"), version):
            continue
        key = tuple(int(x) for x in m.group(1).split("."))
        if best_key is None or key > best_key:
            best, best_key = f, key
    if best is None:
        raise QuickstartError("no pip wheel for this Python on the package index")
    return best


def _open(url: str):
    """urlopen with pip's certificate bundle ($PIP_CERT or ``cert``) and credentials written
    in the URL (https://user:password@host/...); proxies come from $https_proxy. A file: URL
    of a folder reads its index.html, as pip does."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":  # an index on disk, as pip reads it: a folder's index.html
        path = Path(urllib.request.url2pathname(parts.path))
        if path.is_dir():
            url = (path / "index.html").as_uri()
    headers = {"Accept": f"{JSON_ACCEPT}, text/html;q=0.1",
               "User-Agent": "cityindex-quickstart"}
    if parts.username is not None:
        user, password = parts.username, parts.password or ""
        cred = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
        headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    cafile = pip_setting("cert")
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                  timeout=120, context=context)


def download_pip_wheel(dest: Path) -> Path:
    index = index_url()
    page = f"{index}/pip/"
    say(f"fetching pip's wheel from {urllib.parse.urlsplit(index).hostname or index}")
    with _open(page) as r:
        files = parse_index_page(r.read(), r.headers.get("Content-Type", ""))
        page = r.geturl()
    wheel = newest_pip_wheel(files, sys.version_info[:3])
    url = urllib.parse.urljoin(page, wheel["url"])
    if urllib.parse.urlsplit(url).hostname == urllib.parse.urlsplit(index).hostname:
        url = _with_credentials(url, index)
    with _open(url) as r:
        data = r.read()
    expected = wheel.get("hashes", {}).get("sha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise QuickstartError(f"{wheel['filename']}: SHA-256 differs from the index's")
    path = dest / wheel["filename"]
    path.write_bytes(data)
    return path


def _with_credentials(url: str, index: str) -> str:
    i = urllib.parse.urlsplit(index)
    if i.username is None:
        return url
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(u._replace(netloc=i.netloc))


# ---------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        say(f"cityindex needs Python >= {'.'.join(map(str, MIN_PYTHON))}; this is "
            f"{platform_version()} ({sys.executable})")
        return 2
    try:
        if env_is_usable(ENV_DIR):
            py = env_python(ENV_DIR)
        else:
            py = make_env(ENV_DIR)
        drop_other_interpreters_sessions(ENV_DIR.parent)
    except (QuickstartError, OSError, subprocess.CalledProcessError) as e:
        say(f"could not set up nox in {ENV_DIR}: {e}")
        shutil.rmtree(ENV_DIR, ignore_errors=True)
        return 2
    return subprocess.run([str(py), "-m", "nox", *argv], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
