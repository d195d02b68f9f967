"""Chinese chart labels find a font installed after matplotlib built its font cache."""
import shutil
from pathlib import Path

import matplotlib
import pytest
from matplotlib import font_manager

from bot.scheduler.chart import find_cjk_fonts


@pytest.fixture(scope="module")
def fresh_manager():
    """A font manager as matplotlib builds it from the machine's font folders."""
    return font_manager.FontManager()


def _stale(manager, family):
    """The manager as a cache built before `family` was installed would be."""
    manager.ttflist = [f for f in manager.ttflist if f.name != family]
    return manager


def test_a_font_installed_after_the_cache_was_built_is_found_without_deleting_it(
        fresh_manager, tmp_path):
    shipped = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "STIXGeneral.ttf"
    manager = _stale(fresh_manager, "STIXGeneral")
    assert find_cjk_fonts(manager, sample="A") == []   # not installed yet: nothing to find
    folder = tmp_path / "fonts-installed-later"
    folder.mkdir()
    shutil.copy(shipped, folder / "NewlyInstalled.ttf")
    assert find_cjk_fonts(manager, extra_dirs=[str(folder)], sample="A") == ["STIXGeneral"]
    # The cache file on disk is untouched; the running process now knows the font.
    assert any(f.fname == str(folder / "NewlyInstalled.ttf") for f in manager.ttflist)


def test_a_new_font_without_chinese_glyphs_is_not_taken_for_one(fresh_manager, tmp_path):
    shipped = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "cmr10.ttf"
    manager = _stale(fresh_manager, "cmr10")
    shutil.copy(shipped, tmp_path / "Mono.ttf")
    assert find_cjk_fonts(manager, extra_dirs=[str(tmp_path)]) == []


def test_a_known_cjk_family_is_used_without_scanning(fresh_manager):
    entry = font_manager.FontEntry(fname="/nonexistent/NotoSansCJK.ttc", name="Noto Sans CJK SC")
    fresh_manager.ttflist.append(entry)
    try:
        assert find_cjk_fonts(fresh_manager, extra_dirs=["/nonexistent"])[0] == "Noto Sans CJK SC"
    finally:
        fresh_manager.ttflist.remove(entry)
