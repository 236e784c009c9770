"""``dunning doctor``: is this machine able to render letters, and fast?

Checks Pango, HarfBuzz subsetting (the silent 60x slow path), a font for each configured
locale, the prepared fonts (``make fonts``), the message catalogs, and the config files; each
failed check says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import DunningError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _pango() -> Check:
    try:
        from .weasy import pango_version

        v = pango_version()
        return Check("pango", True, f"Pango {v // 10000}.{v // 100 % 100}.{v % 100}")
    except (OSError, ImportError) as exc:
        return Check("pango", False, f"cannot load Pango: {exc}",
                     "apt-get install libpango-1.0-0 libpangoft2-1.0-0 (or `make setup`)")


def _harfbuzz() -> Check:
    from .pdf import SLOW_SUBSETTING
    from .weasy import harfbuzz_subset_available

    try:
        if harfbuzz_subset_available():
            return Check("harfbuzz-subset", True, "libharfbuzz-subset found: fast font subsetting")
    except (OSError, ImportError) as exc:
        return Check("harfbuzz-subset", False, str(exc), "apt-get install libharfbuzz-subset0")
    return Check("harfbuzz-subset", False, SLOW_SUBSETTING, "apt-get install libharfbuzz-subset0")


def run_checks(home: Path | None = None) -> list[Check]:
    """Every check, in order; config checks run only if the project folder is found."""
    from .settings import Settings

    checks = [_pango(), _harfbuzz()]
    try:
        settings = Settings.find(home)
    except DunningError as exc:
        return [*checks, Check("project", False, str(exc), "run inside the project or set "
                               "DUNNING_HOME")]
    checks.append(Check("project", True, str(settings.root)))

    from .pdf import font_charset

    for locale, families in sorted(settings.fonts.items()):
        for family in families:
            try:
                size = len(font_charset(family))
                checks.append(Check(f"font {locale}", True, f"{family} ({size} characters)"))
            except DunningError as exc:
                checks.append(Check(f"font {locale}", False, str(exc),
                                    "apt-get install fonts-noto-cjk (or `make setup`)"))

    from .fonts import PreparedFonts, stale

    configured = {family for stack in settings.fonts.values() for family in stack}
    fonts_dir = settings.assets_dir / "fonts"
    problems = stale(fonts_dir, configured)
    if problems:
        checks.append(Check("prepared fonts", False, "; ".join(problems) + " (letters fall back "
                            "to the full faces: several times bigger and slower)", "make fonts"))
    else:
        faces = PreparedFonts(fonts_dir, configured).faces
        size = sum((fonts_dir / face.file).stat().st_size for face in faces)
        checks.append(Check("prepared fonts", True, f"{len(faces)} faces of {len(configured)} "
                            f"families in {fonts_dir} ({size / 2**20:.0f} MiB)"))

    from .locale import translations

    for locale in sorted(settings.fonts):
        try:
            translations(settings.locales_dir, locale)
            checks.append(Check(f"catalog {locale}", True, "message catalog loads"))
        except DunningError as exc:
            checks.append(Check(f"catalog {locale}", False, str(exc), "make compile"))

    from .letter import Dunning

    try:
        dunning = Dunning.load(settings)
        checks.append(Check("config", True, f"{len(dunning.brands.keys())} brands "
                            f"({', '.join(dunning.brands.keys())}), policy valid"))
    except DunningError as exc:
        checks.append(Check("config", False, str(exc), "fix the file and key named above"))
    return checks
