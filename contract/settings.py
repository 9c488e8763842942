"""One way for every service to read its settings: a flag, else its environment variable, else the default.

A service's settings are one frozen dataclass deriving from `Settings`. A field a user may set
is declared with `setting(...)`: its default, its environment variable (a constant named once,
in the service's module, or in ``contract.pipeline`` when stages share it), a help line, and a
parser when the field's type alone does not say how to read text. Then, for any such class:

- ``from_env(env, **given)``: keyword values (flags already parsed; None = not given) over the
  environment over the defaults;
- ``add_arguments(parser, *names)`` and ``from_args(args, env)``: the same fields as flags;
- ``to_argv()``: the settings written back as those flags, so a supervisor can hand a stage
  process its settings and the stage parses them with the same class (``onebox.stages``).

Text becomes a value by the field's type: ``str``, ``int``, ``float``, ``bool`` (true/false,
yes/no, on/off, 1/0), ``Path``, ``tuple[str, ...]`` (comma-separated), and any of them ``| None``.
A value that does not convert raises `SettingsError` naming the variable or flag, its value
(``!r``) and what was expected; checks across fields belong in the class's ``__post_init__``,
which names the variable the same way. Blank environment variables count as unset.

Dependency-free on purpose (the Lambda imports it on every cold start; see docs/architecture.md
for why not pydantic-settings).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from contract.errors import SettingsError

if TYPE_CHECKING:
    import argparse

_METADATA_KEY = "cryptotrades.setting"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    """How one field is read: its variable, its flag, its help, its parser."""

    env: tuple[str, ...]  # its variables, the first one set wins (usually one)
    flag: str | None  # None: derived from the field name (``retry_base_s`` -> ``--retry-base-s``)
    help: str
    parse: Callable[[str], Any] | None  # text -> value; raises ValueError with nothing to add
    expected: str | None  # what the error says was expected, when the parser is not the type's
    render: Callable[[Any], str] | None  # value -> text for ``to_argv``; default ``str``


def setting(
    default: Any = dataclasses.MISSING,
    *,
    env: str | tuple[str, ...] = (),
    flag: str | None = None,
    help: str = "",
    parse: Callable[[str], Any] | None = None,
    expected: str | None = None,
    render: Callable[[Any], str] | None = None,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field that `Settings` reads from ``env`` (a variable, or several: the first
    one set wins) and from its flag."""
    names = (env,) if isinstance(env, str) else tuple(env)
    metadata = {_METADATA_KEY: Setting(names, flag, help, parse, expected, render)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: Any  # the field's type, with ``| None`` removed
    optional: bool
    default: Any  # dataclasses.MISSING when required
    setting: Setting

    @property
    def flag(self) -> str:
        return self.setting.flag or "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        """How messages name the field: its variable if it has one, else its flag."""
        return self.setting.env[0] if self.setting.env else self.flag

    def parse(self, name: str, text: str) -> Any:
        """Text as the user wrote it -> the field's value, or SettingsError naming ``name``."""
        reader = self.setting.parse or _READERS.get(self.kind)
        if reader is None:
            raise TypeError(f"{self.name}: no reader for {self.kind!r}; give setting(parse=...)")
        try:
            return reader(text.strip())
        except (ValueError, TypeError) as exc:
            expected = self.setting.expected or _EXPECTED.get(self.kind) or str(exc)
            raise SettingsError(f"{name}={text!r}: expected {expected}") from None

    def render(self, value: Any) -> str:
        if self.setting.render is not None:
            return self.setting.render(value)
        if isinstance(value, tuple):
            return ",".join(str(part) for part in value)
        return str(value)


class Settings:
    """Base of every service's settings dataclass; see the module's docstring."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **given: Any) -> Self:
        """``given`` values (None = not given) over the environment (default: os.environ) over defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for item in _fields(cls):
            for name in item.setting.env:
                text = env.get(name, "")
                if text.strip():
                    values[item.name] = item.parse(name, text)
                    break
        values.update({name: value for name, value in given.items() if value is not None})
        missing = [f.label for f in _fields(cls) if f.default is dataclasses.MISSING and f.name not in values]
        if missing:
            raise SettingsError(f"{', '.join(missing)}: required, and not given")
        return cls(**values)

    @classmethod
    def add_arguments(cls, parser: argparse._ActionsContainer, *names: str) -> None:
        """A flag for each field named (default: every field), its help ending in its default and variable."""
        import argparse  # only entry points need it; the Lambda never does

        wanted = set(names)
        for item in _fields(cls):
            if wanted and item.name not in wanted:
                continue
            help_text = item.setting.help
            shown = item.default is not dataclasses.MISSING and item.default is not False
            if shown and item.default not in (None, "", ()):
                help_text += f" (default {item.render(item.default)})"
            if item.setting.env:
                help_text += f" [{', then '.join(item.setting.env)}]"
            if item.kind is bool:
                parser.add_argument(
                    item.flag,
                    dest=item.name,
                    action=argparse.BooleanOptionalAction,
                    default=None,
                    help=help_text,
                )
            else:
                parser.add_argument(item.flag, dest=item.name, metavar="VALUE", default=None, help=help_text)

    @classmethod
    def from_args(cls, args: argparse.Namespace, env: Mapping[str, str] | None = None, **given: Any) -> Self:
        """Flags (added by `add_arguments`, still text) over ``given`` over the environment over defaults."""
        flags: dict[str, Any] = {}
        for item in _fields(cls):
            value = getattr(args, item.name, None)
            if value is None:
                continue
            flags[item.name] = value if isinstance(value, bool) else item.parse(item.flag, value)
        with cls.named_as_given(args):
            return cls.from_env(env, **{**given, **flags})

    @classmethod
    @contextlib.contextmanager
    def named_as_given(cls, args: argparse.Namespace) -> Iterator[None]:
        """Checks name a field by its variable; when the user gave its flag, say the flag instead.

        (``run --symbol X`` must not blame a variable the user never set.)"""
        try:
            yield
        except SettingsError as exc:
            text = str(exc)
            for item in _fields(cls):
                if getattr(args, item.name, None) is not None:
                    for name in item.setting.env:
                        text = re.sub(rf"\b{re.escape(name)}\b", item.flag, text)
            if text == str(exc):
                raise
            raise type(exc)(text) from None

    def to_argv(self) -> list[str]:
        """The flags that make ``from_args`` build these settings again (fields at their default left out)."""
        argv: list[str] = []
        for item in _fields(type(self)):
            value = getattr(self, item.name)
            if value is None or (item.default is not dataclasses.MISSING and value == item.default):
                continue
            if item.kind is bool:
                argv.append(item.flag if value else "--no-" + item.flag.removeprefix("--"))
            else:
                argv += [item.flag, item.render(value)]
        return argv


def env_name(cls: type[Settings], field_name: str) -> str:
    """The environment variable (or else the flag) that sets ``field_name``: for messages."""
    (item,) = (f for f in _fields(cls) if f.name == field_name)
    return item.label


@functools.cache
def _fields(cls: type) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    found = []
    for item in dataclasses.fields(cls):
        meta = item.metadata.get(_METADATA_KEY)
        if meta is None:
            continue
        kind, optional = _unwrap_optional(hints[item.name])
        default = item.default
        if default is dataclasses.MISSING and item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        found.append(_Field(item.name, kind, optional, default, meta))
    return tuple(found)


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        parts = [part for part in typing.get_args(hint) if part is not type(None)]
        if len(parts) == 1:
            return parts[0], True
    return hint, False


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


def _integer(text: str) -> int:
    return int(text.replace("_", ""))


def _words(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


_READERS: dict[Any, Callable[[str], Any]] = {
    str: str,
    int: _integer,
    float: float,
    bool: _boolean,
    Path: Path,
    tuple[str, ...]: _words,
}
_EXPECTED: dict[Any, str] = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
}


# -- parsers several services share -------------------------------------------------------------


def host_port(text: str, *, default_host: str = "") -> tuple[str, int]:
    """``host:port`` (``[v6]:port``; an empty host is ``default_host``) -> (host, port); ValueError if not."""
    host, separator, port = text.strip().rpartition(":")
    host = host.strip("[]") if host.startswith("[") else host
    if not separator or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not host:port")
    if any(not (c.isalnum() or c in ".-_:") for c in host):
        raise ValueError(f"{text!r}: {host!r} is not a host name or address")
    host = host or default_host
    if not host:
        raise ValueError(f"{text!r} has no host")
    return host, int(port)


def bootstrap_servers(text: str) -> str:
    """Kafka's ``host:port[,host:port...]``, each checked by `host_port`; answers it stripped."""
    brokers = [part.strip() for part in text.split(",")]
    if not text.strip() or not all(brokers):
        raise ValueError(f"{text!r} is not host:port[,host:port...]")
    for broker in brokers:
        host_port(broker)
    return ",".join(brokers)


BOOTSTRAP_EXPECTED = "host:port[,host:port...] of the Kafka brokers"


_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_DATABASE_SCHEMES = ("sqlite", "mysql", "mysql+pymysql", "mariadb")
DATABASE_URL_EXPECTED = "sqlite:///path.db or mysql://user:password@host:port/database"


_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")


def stack_name(text: str) -> str:
    """A CloudFormation stack name (a letter, then letters, digits and hyphens); ValueError if not."""
    if not _STACK_NAME.match(text.strip()):
        raise ValueError(f"{text!r} is not a stack name (a letter, then letters, digits and -)")
    return text.strip()


def aws_region(text: str) -> str:
    """An AWS region name such as eu-west-1; ValueError if the text cannot be one."""
    if not _AWS_REGION.match(text.strip()):
        raise ValueError(f"{text!r} is not an AWS region name such as eu-west-1")
    return text.strip()


def bucket_name(text: str) -> str:
    """An S3 bucket name (3 to 63 lower-case letters, digits, dots, hyphens); ValueError if not."""
    if not _BUCKET_NAME.match(text.strip()):
        raise ValueError(f"{text!r} is not an S3 bucket name (lower-case letters, digits, . and -)")
    return text.strip()


def http_url(text: str) -> str:
    """An http(s) URL with a host; ValueError if not."""
    scheme, _, rest = text.strip().partition("://")
    if scheme not in ("http", "https") or not rest.split("/")[0]:
        raise ValueError(f"{text!r} is not an http(s) URL")
    return text.strip()


def database_url(text: str) -> str:
    """A URL some store opens (its scheme only is checked, and only it is quoted: the rest may hold a
    password); ValueError if not."""
    scheme = text.strip().partition("://")[0] if "://" in text else ""
    if scheme not in _DATABASE_SCHEMES:
        raise ValueError(f"expected {DATABASE_URL_EXPECTED}, not a URL with scheme {scheme!r}")
    return text.strip()
