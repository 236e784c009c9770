"""API keys of the letter service: made once, kept as hashes, checked per brand."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dunning.cli import main
from dunning.errors import ConfigError
from dunning.keys import PREFIX, digest, load_keys

BRANDS = ["mingtai", "jinqiao", "lungmun", "risheng"]


def _add(path: Path, name: str, brands: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["keys", "add", name, "--brands", brands, "--file", str(path)]) == 0
    out = capsys.readouterr().out
    return out.splitlines()[-1]


def test_a_key_is_shown_once_and_kept_as_its_hash(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys.yaml"
    crm = _add(path, "crm-east", "mingtai,jinqiao", capsys)
    agent = _add(path, "agent-7", "lungmun", capsys)
    assert crm.startswith(PREFIX)
    assert len(crm) > 40
    assert crm != agent
    text = path.read_text("utf-8")
    assert crm not in text
    assert agent not in text
    assert digest(crm) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    keys = load_keys(path, BRANDS)
    found = keys.find(crm)
    assert found is not None
    assert found.name == "crm-east"
    assert found.may_use("jinqiao")
    assert not found.may_use("lungmun")
    assert keys.find(agent).name == "agent-7"  # type: ignore[union-attr]
    assert keys.find(crm[:-1] + ("A" if crm[-1] != "A" else "B")) is None
    assert keys.find("") is None


@pytest.mark.parametrize(("args", "problem"), [
    (["crm", "--brands", "nope"], "no brand 'nope'"),
    (["crm", "--brands", ","], "no brand given"),
    (["bad name", "--brands", "mingtai"], "key name 'bad name'"),
])
def test_bad_keys_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              args: list[str], problem: str) -> None:
    path = tmp_path / "keys.yaml"
    assert main(["keys", "add", *args, "--file", str(path)]) == 2
    assert problem in capsys.readouterr().err
    assert not path.exists()


def test_a_name_is_used_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys.yaml"
    _add(path, "crm", "mingtai", capsys)
    before = path.read_bytes()
    assert main(["keys", "add", "crm", "--brands", "jinqiao", "--keys", str(path)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_a_broken_keys_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("- name: crm\n  sha256: " + "a" * 64 + "\n  brands: [mingtai]\n"
                    "- name: agent\n  sha256: xyz\n  brands: [mingtai]\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_keys(path, BRANDS)
    assert caught.value.key == "[1].sha256"
    assert caught.value.line == 5
    path.write_text("- name: crm\n  sha256: " + "a" * 64 + "\n  brands: [elsewhere]\n", "utf-8")
    with pytest.raises(ConfigError, match="no brand 'elsewhere'"):
        load_keys(path, BRANDS)
