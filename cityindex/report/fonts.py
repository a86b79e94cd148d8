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

The HTML page embeds a subset of the same font (``page_font_face``, below).
"""

from __future__ import annotations

import base64
import functools
import io
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


# --- the page's font: a subset of the same font, embedded ------------------------------------
# A browser draws the page with the reader's fonts; where the reader has no CJK font every
# Chinese name is a box. So the page embeds the export's font too, cut down by fontTools'
# subsetter to exactly the characters the page shows (plus what its scripts and Vega draw:
# PAGE_FONT_EXTRA), as a data: URL in an @font-face rule (the CSP's ``font-src data:``).

PAGE_FONT_FAMILY = "CityIndex CJK"  # the @font-face name, first in the page's font lists
# printable ASCII (numbers Vega formats, what a reader types in the search box), d3-format's
# minus sign, the ellipsis of truncated labels, dashes, the sort arrows of the table
PAGE_FONT_EXTRA = "".join(map(chr, range(0x20, 0x7F))) + "\u2212\u2026\u2013\u2014\u25b2\u25bc"


def cjk_font_file() -> tuple[Path, int] | None:
    """The export's CJK font file and the face inside it (a .ttc holds several): WenQuanYi
    Micro Hei (face 0 of wqy-microhei.ttc) when found, else the first font file of
    ``find_cjk_font_dir``; None when there is none."""
    d = find_cjk_font_dir()
    if d is None:
        return None
    files = sorted(p for pattern in FONT_PATTERNS for p in Path(d).rglob(pattern))
    preferred = [p for p in files if p.name == "wqy-microhei.ttc"]
    return (preferred or files)[0], 0


def page_font_face(text: str) -> tuple[str, int]:
    """An ``@font-face`` rule (family :data:`PAGE_FONT_FAMILY`) holding the CJK font's glyphs
    for the characters of ``text`` and :data:`PAGE_FONT_EXTRA`, base64 in a data: URL: WOFF2
    when Brotli is installed, else WOFF. Returns the rule and the font's size in bytes; ("", 0)
    when no CJK font is found (the page then relies on the reader's fonts)."""
    found = cjk_font_file()
    if found is None:
        return "", 0
    data, fmt = subset_font(found[0], found[1], text + PAGE_FONT_EXTRA)
    b64 = base64.b64encode(data).decode("ascii")
    return (f"@font-face {{ font-family: \"{PAGE_FONT_FAMILY}\"; font-display: block; "
            f"src: url(data:font/{fmt};base64,{b64}) format(\"{fmt}\"); }}\n", len(data))


@functools.lru_cache(maxsize=8)
def subset_font(path: Path, number: int, chars: str) -> tuple[bytes, str]:
    """The face ``number`` of the font file cut down to ``chars`` (no hinting; the same bytes
    for the same input: no timestamp), as WOFF2 or, without Brotli, WOFF."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    try:
        import brotli  # noqa: F401  (WOFF2 needs it)
        flavor = "woff2"
    except ImportError:
        flavor = "woff"
    font = TTFont(path, fontNumber=number, recalcTimestamp=False, lazy=True)
    options = subset.Options()
    options.flavor = flavor
    options.hinting = False
    options.desubroutinize = True
    options.name_IDs = [1, 2]
    options.notdef_outline = True
    options.drop_tables = [*options.drop_tables, "FFTM"]
    sub = subset.Subsetter(options)
    sub.populate(unicodes={ord(c) for c in set(chars) if not c.isspace() or c == " "})
    sub.subset(font)
    out = io.BytesIO()
    font.flavor = flavor
    font.save(out, reorderTables=False)
    return out.getvalue(), flavor
