"""dunning.pdf's environment: how WeasyPrint's C libraries are found."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import pytest

from dunning.pdf import quick_library_lookup


def test_quick_library_lookup_finds_what_the_ld_so_cache_has_and_nothing_else() -> None:
    original = ctypes.util.find_library
    for name in ("pango-1.0", "harfbuzz-subset", "fontconfig"):
        expected = original(name)
        assert expected is not None
        assert expected.startswith(f"lib{name}.so")
        with quick_library_lookup():
            assert ctypes.util.find_library is not original
            assert ctypes.util.find_library(name) == expected
            # Names WeasyPrint lists for Windows and macOS: not in the cache, not searched.
            assert ctypes.util.find_library(f"lib{name}-0") is None
        assert ctypes.util.find_library is original


def test_quick_library_lookup_stands_aside_when_ld_library_path_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = ctypes.util.find_library
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/elsewhere")
    with quick_library_lookup():
        assert ctypes.util.find_library is original


def test_weasyprint_loads_with_every_library_it_needs() -> None:
    """In a fresh interpreter (this one imported WeasyPrint long ago): the quick lookup finds
    Pango, HarfBuzz and its subsetter, and fontconfig."""
    code = ("from dunning.pdf import harfbuzz_subset_available, load_weasyprint\n"
            "load_weasyprint()\n"
            "from weasyprint.text.ffi import pango, fontconfig\n"
            "print(int(pango.pango_version()) > 14400, harfbuzz_subset_available())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["True", "True"]
