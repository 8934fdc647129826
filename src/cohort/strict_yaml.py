"""Reading the small YAML files users write (parameter files, ``columns.yaml``) strictly.

Plain ``yaml.safe_load`` has three traps for files that steer an analysis:

* **aliases** (``&a`` / ``*a``) let 1 KB of text expand to gigabytes (a "billion laughs"
  bomb), and the error message that echoes the expanded value is as large;
* a **duplicated key** silently keeps the last value;
* its error messages quote the offending text, which may be anything the file holds.

:func:`load_yaml` refuses anchors and aliases, duplicate keys, nesting deeper than
:data:`MAX_DEPTH` and files larger than :data:`MAX_BYTES`, and reports every problem as
one short line with the file, line, column and rule, never with the file's content.

Examples
--------
>>> from cohort.exceptions import ParameterError
>>> load_yaml("a: 1\\nb: [x, y]\\n", source="p.yaml", error=ParameterError)
{'a': 1, 'b': ['x', 'y']}
>>> load_yaml("a: 1\\nb: 2\\na: 3\\n", source="p.yaml", error=ParameterError)
Traceback (most recent call last):
...
cohort.exceptions.ParameterError: p.yaml line 3, column 1: key 'a' appears twice (first on line 1) (rule: duplicate_key); keep one of them
>>> load_yaml("a: &x [1, 2]\\nb: *x\\n", source="p.yaml", error=ParameterError)
Traceback (most recent call last):
...
cohort.exceptions.ParameterError: p.yaml line 1, column 4: YAML anchors and aliases (&name, *name) are not allowed (rule: yaml_alias); write every value out in full
"""

from __future__ import annotations

import re

import yaml

#: Largest YAML file read, in bytes: parameter files and declarations are a few KB.
MAX_BYTES = 1 << 20

#: Deepest nesting of lists and mappings accepted (parameter files use two levels).
MAX_DEPTH = 16

__all__ = ["MAX_BYTES", "MAX_DEPTH", "load_yaml", "short"]


def short(value, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: user values in messages stay short.

    Examples
    --------
    >>> short("x" * 100, 12)
    "'xxxxxxx...'"
    >>> short([1, 2])
    '[1, 2]'
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    closing = text[-1] if text[-1] in "'\"]})" else ""
    return text[: limit - 3 - len(closing)] + "..." + closing


class _Refused(Exception):
    def __init__(self, mark, rule: str, message: str):
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else None
        self.column = mark.column + 1 if mark is not None else None
        self.rule = rule
        self.message = message


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without anchors or aliases, with duplicate-key and depth checks."""

    _depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(
                event.start_mark,
                "yaml_alias",
                "YAML anchors and aliases (&name, *name) are not allowed (rule: yaml_alias); "
                "write every value out in full",
            )
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    event.start_mark,
                    "yaml_depth",
                    f"lists and mappings are nested more than {MAX_DEPTH} deep "
                    "(rule: yaml_depth); flatten the file",
                )
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    raise _Refused(
                        key_node.start_mark,
                        "yaml_key",
                        "a key is a list or mapping (rule: yaml_key); keys must be plain names",
                    ) from None
                if first is not None:
                    raise _Refused(
                        key_node.start_mark,
                        "duplicate_key",
                        f"key {short(key, 40)} appears twice (first on line {first}) "
                        "(rule: duplicate_key); keep one of them",
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


class _StrictTextDatesLoader(_StrictLoader):
    """As :class:`_StrictLoader`, but dates stay text (as papermill hands them over)."""


_StrictTextDatesLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(
    text: str | bytes,
    *,
    source: str,
    error: type[Exception],
    dates_as_text: bool = False,
):
    """Parse one YAML document strictly; raise ``error`` with a one-line message.

    Parameters
    ----------
    text : str or bytes
        The document (bytes must be UTF-8).
    source : str
        The file name used in messages.
    error : type
        The exception class raised (a :class:`~cohort.exceptions.CohortError` subclass).
    dates_as_text : bool
        Keep ``2024-12-31`` as the text ``"2024-12-31"`` instead of a ``datetime.date``.

    Raises
    ------
    error
        Too large, not UTF-8, not YAML, an anchor or alias, a duplicate key, nesting too
        deep. The message names ``source``, the line and column and the rule; it never
        quotes the document.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise error(_too_large(source, len(text)))
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = text.count(b"\n", 0, exc.start) + 1
            raise error(
                f"{source} line {line}: the file is not UTF-8 text (rule: encoding); save it "
                "as UTF-8"
            ) from None
    if len(text) > MAX_BYTES:
        raise error(_too_large(source, len(text)))
    loader = (_StrictTextDatesLoader if dates_as_text else _StrictLoader)(text)
    try:
        return loader.get_single_data()
    except _Refused as refused:
        where = f" line {refused.line}, column {refused.column}" if refused.line else ""
        raise error(f"{source}{where}: {refused.message}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = (exc.problem or exc.context or "the text is not valid YAML").split("\n")[0]
        hint = "indent with spaces, not tabs" if "\\t" in problem else (
            "check the indentation, colons and quotes"
        )
        # PyYAML quotes characters, tags and tokens of the file in some problems: drop them
        problem = re.sub(r"\s*'[^']*'|\s*\"[^\"]*\"", "", problem)[:80]
        raise error(f"{source}{where}: not valid YAML ({problem}) (rule: yaml_syntax); {hint}") from None
    except yaml.YAMLError:
        raise error(
            f"{source}: not valid YAML (rule: yaml_syntax); check the indentation, colons and "
            "quotes"
        ) from None
    except RecursionError:
        raise error(
            f"{source}: lists and mappings are nested too deeply (rule: yaml_depth); flatten "
            "the file"
        ) from None
    finally:
        loader.dispose()


def _too_large(source: str, size: int) -> str:
    return (
        f"{source} is {size:,} bytes, more than the {MAX_BYTES:,} a YAML file of this kind may "
        "have (rule: yaml_size); it should hold a few settings only"
    )
