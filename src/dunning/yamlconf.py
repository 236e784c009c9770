"""Read YAML data files safely, and check them against typed models with errors an author
can act on: the file, the line and the key path of every problem.

Takes a file (or its text) and a pydantic model; gives the validated model or raises a
:class:`~dunning.errors.ConfigError` (or the subclass the caller names). Depends only on
:mod:`dunning.errors`, so every module that reads configuration can use it.

YAML is only ever read through :class:`SafeDataLoader`: PyYAML's safe loader (no Python
tags), with aliases refused (no "billion laughs"), nesting bounded, and decimal numbers kept
exact as :class:`~decimal.Decimal` instead of float. Unknown keys fail with a "did you mean …?".
Record files use :class:`RecordLoader`, which keeps every scalar as the text written.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError, reason
from .output import read_regular_text

# --------------------------------------------------------------------------- YAML


#: Deepest nesting of lists and mappings accepted in a YAML file: deeper is refused with a
#: clear error instead of exhausting Python's recursion limit (PyYAML composes recursively).
MAX_YAML_DEPTH = 32


class SafeDataLoader(yaml.SafeLoader):
    """Safe loader for data files: no aliases, at most MAX_YAML_DEPTH levels of nesting,
    decimals as Decimal, not float."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not allowed in dunning data files",
                event.start_mark,
            )
        if self._depth >= MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_YAML_DEPTH} levels",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """A mapping, refusing a key given twice (YAML would silently keep the last)."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given more than once",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        value = Decimal(text)
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite():
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value!r} is not a plain decimal number", node.start_mark)
    return value


SafeDataLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


class RecordLoader(SafeDataLoader):
    """For record files: every scalar stays the text that was written (YAML would otherwise
    turn ``010010`` into 4104, ``12_000`` into 12000 and ``No`` into False); only null is
    None. The record validator then parses each field by its own rules."""


def _construct_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    return str(node.value)


for _tag in ("int", "float", "bool", "timestamp", "str", "binary"):
    RecordLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _construct_text)


def load_yaml_text(text: str, *, path: str) -> Any:
    """Parse YAML text with :class:`SafeDataLoader`; errors name the file and line."""
    try:
        return yaml.load(text, Loader=SafeDataLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", path=path,
                          line=mark.line + 1 if mark is not None else None) from exc


def load_yaml_file(path: Path) -> Any:
    try:
        text = read_regular_text(path)
    except OSError as exc:
        raise ConfigError(f"cannot read: {reason(exc)}", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("not valid UTF-8", path=str(path)) from exc
    return load_yaml_text(text, path=str(path))


# --------------------------------------------------------------------------- locations

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def key_steps(key: str) -> list[str | int]:
    """A dotted key path as the steps into the data: mapping keys and list indices.

    >>> key_steps("brands.jinqiao.options[1].months")
    ['brands', 'jinqiao', 'options', 1, 'months']
    """
    return [int(index) if index else name for name, index in _STEP.findall(key)]


def yaml_line(path: Path, keys: Sequence[str | int]) -> int | None:
    """The 1-based line of the value at ``keys`` (mapping keys, list indices) in a YAML
    file: as deep as the path can be followed, None when not even its first step is there."""
    try:
        node = yaml.compose(read_regular_text(path), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    line = None
    for key in keys:
        if isinstance(node, yaml.SequenceNode) and str(key).isdigit():  # items[1], items.1
            if int(key) >= len(node.value):
                return line
            node = node.value[int(key)]
            line = node.start_mark.line + 1
            continue
        if not isinstance(node, yaml.MappingNode):
            return line
        for knode, vnode in node.value:
            if knode.value == str(key):
                node, line = vnode, knode.start_mark.line + 1
                break
        else:
            return line
    return line


ErrorT = TypeVar("ErrorT", bound=ConfigError)


def config_error(error: type[ErrorT], message: str, *, path: str,
                 key: str | None = None) -> ErrorT:
    """``error`` for ``message`` at ``key`` of the YAML file ``path``, with the line of that
    key in the file when it can be found."""
    line = yaml_line(Path(path), key_steps(key)) if key else None
    return error(message, path=path, key=key, line=line)


# --------------------------------------------------------------------------- key checks


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A "; did you mean 'x'?" suffix, or an empty string.

    >>> did_you_mean("hotlne", ["hotline", "email"])
    "; did you mean 'hotline'?"
    >>> did_you_mean("zzz", ["hotline"])
    ''
    """
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def reject_unknown_keys(
    data: Any, allowed: Iterable[str], *, path: str, where: str,
    error: type[ConfigError] = ConfigError,
) -> None:
    """Raise ``error`` naming the first key of mapping ``data`` that is not in ``allowed``."""
    if not isinstance(data, Mapping):
        raise config_error(error, f"expected a mapping, got {type(data).__name__}", path=path,
                           key=where or None)
    allowed = sorted(allowed)
    for key in data:
        if key not in allowed:
            raise config_error(
                error,
                f"unknown key {key!r}{did_you_mean(str(key), allowed)} "
                f"(accepted keys: {', '.join(allowed)})",
                path=path,
                key=f"{where}.{key}" if where else str(key),
            )


def _model_in(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """('model'|'dict'|'list', Model) when a field's annotation holds a pydantic model."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ("model", annotation)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found:
                return found
    if origin in (dict, Mapping):
        found = _model_in(typing.get_args(annotation)[1])
        return ("dict", found[1]) if found and found[0] == "model" else None
    if origin in (list, tuple):
        found = _model_in(typing.get_args(annotation)[0])
        return ("list", found[1]) if found and found[0] == "model" else None
    return None


def check_model_keys(
    data: Any, model: type[BaseModel], *, path: str, where: str = "",
    error: type[ConfigError] = ConfigError,
) -> None:
    """Walk ``data`` along ``model``'s fields and reject unknown keys at any depth."""
    if not isinstance(data, Mapping):
        return  # pydantic reports the type error
    reject_unknown_keys(data, model.model_fields, path=path, where=where, error=error)
    for name, info in model.model_fields.items():
        if name not in data:
            continue
        found = _model_in(info.annotation)
        if not found:
            continue
        kind, sub = found
        value, here = data[name], f"{where}.{name}" if where else name
        if kind == "model":
            check_model_keys(value, sub, path=path, where=here, error=error)
        elif kind == "dict" and isinstance(value, Mapping):
            for key, item in value.items():
                check_model_keys(item, sub, path=path, where=f"{here}.{key}", error=error)
        elif kind == "list" and isinstance(value, list):
            for i, item in enumerate(value):
                check_model_keys(item, sub, path=path, where=f"{here}[{i}]", error=error)


ModelT = TypeVar("ModelT", bound=BaseModel)


def validate_model(
    model: type[ModelT], data: Any, *, path: str, where: str = "",
    error: type[ConfigError] = ConfigError,
) -> ModelT:
    """Check keys, then validate with pydantic; the first problem becomes ``error``."""
    if not isinstance(data, Mapping):
        raise config_error(error, f"expected a mapping, got {type(data).__name__}", path=path,
                           key=where or None)
    check_model_keys(data, model, path=path, where=where, error=error)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in (where, *first["loc"]) if p != "")
        message, value = first["msg"], first.get("input")
        if isinstance(value, (str, int, float, Decimal)) and not isinstance(value, bool) \
                and len(str(value)) <= 80:
            message = f"{message} (got {value!r})"
        raise config_error(error, message, path=path, key=loc or None) from exc


