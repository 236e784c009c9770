"""The error tree: every class carries its facts and survives crossing a process boundary."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from dunning import errors
from dunning.errors import (
    ClusterError,
    ConfigError,
    DunningError,
    FieldProblem,
    InputError,
    LetterTimeoutError,
    OutputError,
    PolicyError,
    PreflightError,
    RecordError,
    RenderError,
    TemplateError,
)
from dunning.yamlconf import load_yaml_file, validate_model

#: One instance of every error class, with every attribute it can carry set.
SAMPLES: list[DunningError] = [
    DunningError("root"),
    ConfigError("bad value", path="config/brands.yaml", key="brands.x.hotline", line=12),
    PolicyError("bad stage", path="config/policy.yaml", key="defaults.stages", line=3),
    InputError("bad header", path="data/x.csv", line=1),
    RecordError([FieldProblem("fees", "negative", "a decimal >= 0"),
                 FieldProblem(None, "no account_id")],
                source="data/x.csv", line=7, account_id="A-1"),
    TemplateError("'x' is undefined", template="letter/letter.html", line=4,
                  account_id="A-1", kind="undefined"),
    RenderError("Ignored 'color: ' at 6:13", kind="stylesheet", account_id="A-2",
                file="templates/assets/letter.css", line=6),
    LetterTimeoutError("took longer than the per-letter time limit of 1 s", account_id="A-3"),
    OutputError("disk full"),
    PreflightError("2 problems would fail every letter",
                   findings=["templates/letter/partials/consequences.html:3: error [syntax] x"]),
    ClusterError("worker runs other code", worker="tcp://10.0.0.1:1234"),
]


def test_every_error_class_has_a_sample() -> None:
    classes = {obj for obj in vars(errors).values()
               if isinstance(obj, type) and issubclass(obj, DunningError)}
    assert classes == {type(sample) for sample in SAMPLES}


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling(error: DunningError) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert back.args == error.args
    assert vars(back) == vars(error)


def test_timeout_is_a_render_error_of_its_kind() -> None:
    error = LetterTimeoutError("too slow", account_id="A-1")
    assert isinstance(error, RenderError)
    assert isinstance(error, DunningError)
    assert error.kind == "timeout"


def test_config_error_names_file_and_line_of_a_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "brands.yaml"
    path.write_text("brands:\n  a:\n    hotline: 1\n   bad: [\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_yaml_file(path)
    assert caught.value.path == str(path)
    assert caught.value.line == 4
    assert caught.value.message.startswith("invalid YAML: ")
    assert str(caught.value).startswith(f"{path}:4: invalid YAML: ")


def test_config_error_names_the_line_of_a_bad_key(tmp_path: Path) -> None:
    from pydantic import BaseModel

    class Inner(BaseModel):
        count: int

    class Outer(BaseModel):
        name: str
        items: list[Inner]

    path = tmp_path / "x.yaml"
    path.write_text("name: x\nitems:\n  - count: 1\n  - count: 2\n    extra: 3\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        validate_model(Outer, load_yaml_file(path), path=str(path))
    assert caught.value.key == "items[1].extra"
    assert caught.value.line == 5
    path.write_text("name: x\nitems:\n  - count: 1\n  - count: many\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        validate_model(Outer, load_yaml_file(path), path=str(path))
    assert caught.value.key == "items.1.count"
    assert caught.value.line == 4


def test_every_error_class_of_the_package_survives_pickling() -> None:
    """Error classes defined outside the errors module too (the service's)."""
    import importlib
    import pkgutil

    import dunning
    from dunning.service import ServiceError

    found: set[type] = set()
    for module in pkgutil.walk_packages(dunning.__path__, "dunning."):
        if module.name in ("dunning.cli", "dunning.serve") or ".preview" in module.name:
            continue
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, type) and issubclass(value, DunningError):
                found.add(value)
    samples = {type(s) for s in SAMPLES}
    error = ServiceError(409, "No letter", "recent_notice: last letter 2 days ago",
                         code="recent_notice")
    error.earlier = {"as_of": "2026-11-20", "reference": "C-1-20261120"}
    back = pickle.loads(pickle.dumps(error))
    assert vars(back) == vars(error)
    assert str(back) == str(error)
    samples.add(ServiceError)
    from dunning.cluster import _LetterTimeoutError

    timeout = _LetterTimeoutError("took longer than the per-letter time limit of 5 s")
    assert vars(pickle.loads(pickle.dumps(timeout))) == vars(timeout)
    samples.add(_LetterTimeoutError)
    assert found - samples == set()
