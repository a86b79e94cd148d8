"""The README's quick start: the noxfile runs on any Python >= 3.11, tools/quickstart.py sets
nox up with nothing but the standard library, and the PNG/SVG export has a CJK font from pip
(or says it has none) instead of drawing empty boxes.

The quick start itself, from a fresh clone with the system's python3, is run by .ci/run."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT

from cityindex.errors import CityIndexError
from cityindex.report import fonts

IN_CI = os.environ.get("CI") == "true"


def _load_quickstart():
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / "tools" / "quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


qs = _load_quickstart()


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def _sessions() -> dict[str, ast.Call | ast.Attribute]:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                if "nox.session" in ast.unparse(dec):
                    found[node.name] = dec
    return found


# ---------------------------------------------------------------- noxfile and README


def test_noxfile_pins_no_python_version():
    sessions = _sessions()
    assert {"tests", "sensitivity", "lint", "reproduce", "bench"} <= set(sessions)
    for name, dec in sessions.items():
        if isinstance(dec, ast.Call):
            for kw in dec.keywords:
                assert kw.arg not in ("python", "py"), f"session {name} pins {ast.unparse(kw)}"
    source = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    assert "force_python" not in source and "options.pythons" not in source
    # virtualenv brings its own pip: `venv` would need ensurepip, missing on a stock Debian
    assert re.search(r'default_venv_backend\s*=\s*"virtualenv"', source)


def test_readme_quick_start_runs_nox_sessions_through_the_bootstrap():
    commands = _readme_commands()
    assert commands == ["python3 tools/quickstart.py -s sensitivity",
                        "python3 tools/quickstart.py -s tests"]
    for cmd in commands:
        assert cmd.split()[-1] in _sessions()


def test_ci_runs_the_readme_quick_start_from_a_fresh_clone():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "README.md" in ci and "git clone" in ci and "/usr/bin" in ci
    assert "fonts-wqy" not in ci and "pip install" not in ci  # only what the README says


def test_bootstrap_refuses_an_old_python(monkeypatch, capsys):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">={}.{}".format(*qs.MIN_PYTHON)
    monkeypatch.setattr(qs, "MIN_PYTHON", (99, 0))
    assert qs.main(["-s", "tests"]) == 2
    assert "needs Python >= 99.0" in capsys.readouterr().err


# ---------------------------------------------------------------- bootstrap logic


def test_index_url_follows_pip(tmp_path):
    glob, user = tmp_path / "etc.conf", tmp_path / "user.conf"
    glob.write_text("[global]\nindex-url = https://mirror.example/simple/\n")
    assert qs.index_url({}, []) == "https://pypi.org/simple"
    assert qs.index_url({}, [glob]) == "https://mirror.example/simple"
    user.write_text("[global]\ntimeout = 60\n[install]\nindex-url = https://user.example/s\n")
    assert qs.index_url({}, [glob, user]) == "https://user.example/s"
    env = {"PIP_INDEX_URL": "https://env.example/simple"}
    assert qs.index_url(env, [glob, user]) == "https://env.example/simple"


def test_pip_config_files_in_pips_order(tmp_path):
    env = {"XDG_CONFIG_DIRS": "/a:/b", "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "PIP_CONFIG_FILE": str(tmp_path / "explicit.conf")}
    files = qs.pip_config_files(env, home=tmp_path)
    assert files[:3] == [Path("/b/pip/pip.conf"), Path("/a/pip/pip.conf"),
                         Path("/etc/pip.conf")]
    assert files.index(tmp_path / ".pip" / "pip.conf") < files.index(
        tmp_path / "cfg" / "pip" / "pip.conf")
    assert files[-1] == tmp_path / "explicit.conf"


def test_requires_python():
    assert qs.python_allowed(None, (3, 11, 2))
    assert qs.python_allowed(">=3.9", (3, 11, 2))
    assert not qs.python_allowed(">=3.12", (3, 11, 2))
    assert qs.python_allowed(">=3.7, !=3.11.*", (3, 12, 0))
    assert not qs.python_allowed(">=3.7, !=3.11.*", (3, 11, 7))
    assert qs.python_allowed(">=3.8,<4", (3, 13, 1))


def test_newest_pip_wheel_skips_sdists_prereleases_yanked_and_too_new():
    files = [{"filename": "pip-24.0-py3-none-any.whl", "url": "a"},
             {"filename": "pip-25.1.tar.gz", "url": "b"},
             {"filename": "pip-25.0-py3-none-any.whl", "url": "c",
              "requires-python": ">=3.9"},
             {"filename": "pip-25.1b1-py3-none-any.whl", "url": "d"},
             {"filename": "pip-25.0.1-py3-none-any.whl", "url": "e", "yanked": "bad"},
             {"filename": "pip-99.0-py3-none-any.whl", "url": "f",
              "requires-python": ">=3.99"}]
    assert qs.newest_pip_wheel(files, (3, 11, 2))["url"] == "c"
    with pytest.raises(qs.QuickstartError):
        qs.newest_pip_wheel(files[1:2], (3, 11, 2))


def test_index_pages_json_and_html():
    page = {"files": [{"filename": "pip-25.0-py3-none-any.whl", "url": "x.whl",
                       "hashes": {"sha256": "ab"}, "yanked": False}]}
    assert qs.parse_index_page(json.dumps(page).encode(),
                               "application/vnd.pypi.simple.v1+json")[0]["url"] == "x.whl"
    html = (b'<html><body><a href="../../p/pip-24.0-py3-none-any.whl#sha256=cd" '
            b'data-requires-python="&gt;=3.7">pip-24.0-py3-none-any.whl</a>'
            b'<a href="pip-23.0.tar.gz" data-yanked="">pip-23.0.tar.gz</a></body></html>')
    files = qs.parse_index_page(html, "text/html; charset=utf-8")
    assert files[0] == {"filename": "pip-24.0-py3-none-any.whl",
                        "url": "../../p/pip-24.0-py3-none-any.whl", "hashes": {"sha256": "cd"},
                        "requires-python": ">=3.7", "yanked": False}
    assert files[1]["yanked"]


def test_pip_wheel_from_a_file_index(tmp_path, monkeypatch):
    """download_pip_wheel against an index on disk (urllib reads file: URLs): relative links
    and the SHA-256 check."""
    wheel = b"not really a wheel"
    files = tmp_path / "files"
    files.mkdir()
    (files / "pip-25.0-py3-none-any.whl").write_bytes(wheel)
    project = tmp_path / "simple" / "pip"
    project.mkdir(parents=True)
    digest = hashlib.sha256(wheel).hexdigest()
    (project / "index.html").write_text(
        f'<a href="../../files/pip-25.0-py3-none-any.whl#sha256={digest}">'
        "pip-25.0-py3-none-any.whl</a>")
    monkeypatch.setattr(qs, "index_url", lambda: (tmp_path / "simple").as_uri())
    monkeypatch.setattr(qs, "pip_setting", lambda name: None)
    dest = tmp_path / "dest"
    dest.mkdir()
    assert qs.download_pip_wheel(dest).read_bytes() == wheel
    (project / "index.html").write_text(
        '<a href="../../files/pip-25.0-py3-none-any.whl#sha256=00">pip-25.0-py3-none-any.whl</a>')
    with pytest.raises(qs.QuickstartError, match="SHA-256"):
        qs.download_pip_wheel(dest)


def test_missing_ensurepip_is_detected(monkeypatch):
    monkeypatch.setattr(qs.importlib.util, "find_spec", lambda name: None)
    assert not qs.has_ensurepip()


def test_environment_is_remade_for_another_interpreter(tmp_path):
    assert not qs.env_is_usable(tmp_path)  # no marker
    (tmp_path / qs.MARKER).write_text(json.dumps({"executable": "/other/python3",
                                                  "version": [3, 12, 0]}))
    assert not qs.env_is_usable(tmp_path)


def test_sessions_made_by_another_interpreter_are_removed(tmp_path):
    for name, prefix in [("tests", "/usr"), ("lint", "/opt/python3.13"), ("docs", None)]:
        (tmp_path / name).mkdir()
        cfg = "home = /x/bin\nversion = 3.11.2\n"
        if prefix:
            cfg += f"base-prefix = {prefix}\n"
        (tmp_path / name / "pyvenv.cfg").write_text(cfg)
    (tmp_path / "notes").mkdir()
    qs.drop_other_interpreters_sessions(tmp_path, base_prefix="/usr")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "notes", "tests"]


def test_without_ensurepip_pip_comes_from_the_index(tmp_path):
    """The fallback for a Debian python3 without python3-venv, for real: an environment made
    --without-pip gets pip from its wheel on the package index (network: PyPI or
    $PIP_INDEX_URL)."""
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    py = qs.env_python(env)
    try:
        wheel = qs.download_pip_wheel(tmp_path)
    except OSError as e:  # URLError is an OSError
        if IN_CI:
            raise
        pytest.skip(f"package index not reachable: {e}")
    subprocess.run([str(py), str(wheel / "pip"), "install", "--quiet", "--no-index",
                    "--disable-pip-version-check", str(wheel)], check=True)
    out = subprocess.run([str(py), "-m", "pip", "--version"], check=True,
                         capture_output=True, text=True).stdout
    assert str(env) in out


# ---------------------------------------------------------------- the CJK font


def _no_fonts(monkeypatch):
    monkeypatch.delenv(fonts.ENV_VAR, raising=False)
    monkeypatch.setattr(fonts, "pip_font_dir", lambda: None)
    monkeypatch.setattr(fonts, "CJK_FONT_DIRS", ["/nonexistent/fonts"])


def test_cjk_font_comes_from_pip():
    d = fonts.pip_font_dir()
    assert d is not None, f"{fonts.PIP_FONT_DISTRIBUTION} (a dependency) is not installed"
    assert (Path(d) / "wqy-microhei.ttc").is_file()


def test_font_lookup_order(tmp_path, monkeypatch):
    monkeypatch.delenv(fonts.ENV_VAR, raising=False)
    assert fonts.find_cjk_font_dir() == fonts.pip_font_dir()
    (tmp_path / "mine.otf").write_bytes(b"")
    monkeypatch.setenv(fonts.ENV_VAR, str(tmp_path))
    assert fonts.find_cjk_font_dir() == str(tmp_path)
    assert fonts.candidate_dirs()[:2] == [str(tmp_path), fonts.pip_font_dir()]


def test_no_cjk_font_is_a_clear_error_not_boxes(monkeypatch):
    _no_fonts(monkeypatch)
    assert fonts.find_cjk_font_dir() is None
    with pytest.raises(CityIndexError) as err:
        fonts.require_cjk_font_dir()
    msg = str(err.value)
    assert "paperang-p2-fonts-cjk" in msg and "fonts-wqy-microhei" in msg
    assert fonts.ENV_VAR in msg

    import altair as alt
    import pandas as pd

    from cityindex.report.page import export_static

    chart = alt.Chart(pd.DataFrame({"t": ["北京"]})).mark_text().encode(text="t:N")
    with pytest.raises(CityIndexError, match="CJK font"):
        export_static(chart, "x")
