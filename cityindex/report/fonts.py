"""The CJK font that vl-convert draws Chinese names with in the PNG/SVG export.

Without one, vl-convert draws every Chinese character as the same empty box ("tofu") and says
nothing; so the export asks for a font directory with ``require_cjk_font_dir`` and stops with a
``CityIndexError`` naming how to install one when there is none.

Lookup order:

1. ``$CITYINDEX_CJK_FONT_DIR``, the user's explicit choice;
2. the font installed by pip with cityindex: the package ``paperang-p2-fonts-cjk`` ships
   WenQuanYi Micro Hei (``wqy-microhei.ttc``, the same file, byte for byte, as Debian's
   ``fonts-wqy-microhei``). It is the charts' first font (``charts.CJK_FONT``), so the committed
   images come out the same on every machine, whether or not it has CJK fonts of its own;
3. Debian's locations (fonts-wqy-microhei, fonts-noto-cjk).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from cityindex.errors import CityIndexError

ENV_VAR = "CITYINDEX_CJK_FONT_DIR"
PIP_FONT_DISTRIBUTION = "paperang-p2-fonts-cjk"
PIP_FONT_PACKAGE = "paperang_p2_fonts_cjk"
CJK_FONT_DIRS = ["/usr/share/fonts/truetype/wqy", "/usr/share/fonts/opentype/noto",
                 "/usr/share/fonts/truetype/noto", "/usr/share/fonts/noto-cjk"]
FONT_PATTERNS = ("*.tt[cf]", "*.ot[cf]")


def has_font(directory: str | Path) -> bool:
    """Whether a directory (searched recursively) holds a TrueType/OpenType font file."""
    d = Path(directory)
    return d.is_dir() and any(any(d.rglob(pattern)) for pattern in FONT_PATTERNS)


def pip_font_dir() -> str | None:
    """The font folder of the pip-installed font package, or None when it is not installed."""
    try:
        root = resources.files(PIP_FONT_PACKAGE)
    except ModuleNotFoundError:
        return None
    if not isinstance(root, Path):  # not unpacked on disk (a zip import): vl-convert needs a path
        return None
    d = root / "fonts"
    return str(d) if has_font(d) else None


def candidate_dirs() -> list[str]:
    """Where a CJK font is looked for, in order (see the module docstring)."""
    env = os.environ.get(ENV_VAR)
    pip_dir = pip_font_dir()
    return [d for d in [env, pip_dir, *CJK_FONT_DIRS] if d]


def find_cjk_font_dir() -> str | None:
    """The first directory of ``candidate_dirs`` that holds a font file, else None."""
    for d in candidate_dirs():
        if has_font(d):
            return d
    return None


def require_cjk_font_dir() -> str:
    """``find_cjk_font_dir``, or a ``CityIndexError`` that says how to install a CJK font."""
    d = find_cjk_font_dir()
    if d is not None:
        return d
    env = os.environ.get(ENV_VAR)
    looked = [f"${ENV_VAR} ({env!r})" if env else f"${ENV_VAR} (unset)",
              f"the Python package {PIP_FONT_DISTRIBUTION} ({_pip_font_state()})", *CJK_FONT_DIRS]
    raise CityIndexError(
        "CJK font for the PNG/SVG export",
        "no font file in " + ", ".join(looked) + "; Chinese names would be drawn as empty boxes",
        f"a CJK font: reinstall cityindex with its dependencies (python3 -m pip install "
        f"{PIP_FONT_DISTRIBUTION}), or apt-get install fonts-wqy-microhei, or set {ENV_VAR} "
        f"to a folder holding a .ttf/.ttc/.otf CJK font")


def _pip_font_state() -> str:
    try:
        resources.files(PIP_FONT_PACKAGE)
    except ModuleNotFoundError:
        return "not installed"
    return "installed, but without a font file on disk"


_REGISTERED: set[str] = set()


def register_cjk_font() -> str:
    """Point vl-convert at the CJK font directory (once per process) and return it; raise
    ``CityIndexError`` when there is none rather than draw boxes."""
    import vl_convert as vlc

    d = require_cjk_font_dir()
    if d not in _REGISTERED:
        vlc.register_font_directory(d)
        _REGISTERED.add(d)
    return d
