"""Task options: each task's settings as one frozen pydantic model.

A task declares ``Options`` (a ``TaskOptions`` subclass): each field's type,
bounds, default and a description that says what the default was chosen on.
Everything else is derived from it: ``Task.run`` receives a validated
instance, ``Model`` methods and the public functions pass their keywords
through ``TaskOptions.parse``, the CLI builds each task command's flags from
the fields (``llamatasks.cli``), and evaluation reads ``Options()`` for the
defaults it reports. ``parse`` is the one place a bad option becomes a typed
``InvalidInputError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Strict, ValidationError

from llamatasks.errors import InvalidInputError, LlamaTasksError
from llamatasks.tasks.inputs import valid_unicode
from llamatasks.tasks.normalize import has_visible_content


def _visible(value: str) -> str:
    if not has_visible_content(value):
        raise ValueError("must be text with visible content (not empty, whitespace or invisible characters)")
    return valid_unicode(value, "the text").strip()


#: Caller text inside an option (a question, a label, a system message): a non-blank, valid Unicode string.
OptionText = Annotated[str, Strict(), AfterValidator(_visible)]


@dataclass(frozen=True)
class Flag:
    """How a field appears on the command line, where the default (``--field-name``) does not fit.

    Put it in the field's ``Annotated`` metadata: ``Annotated[str, Flag("--to", "-t")]``.

    Attributes:
        names: The option's spellings (``"--to", "-t"``); empty: ``--field-name``.
        positional: An argument before the text instead of an option (``answer QUESTION CONTEXT``).
        split: For a list field: the separator one option value is split on (``--labels a,b``).
    """

    names: tuple[str, ...] = ()
    positional: bool = False
    split: str | None = None

    def __init__(self, *names: str, positional: bool = False, split: str | None = None) -> None:
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "positional", positional)
        object.__setattr__(self, "split", split)


class TaskOptions(BaseModel):
    """Base of every task's options; a task without settings uses it as is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The task's name, for error messages.
    task_name: ClassVar[str] = "task"

    @classmethod
    def parse(cls, values: Mapping[str, Any] | TaskOptions | None = None) -> TaskOptions:
        """Validated options from keywords; a None value means the default. Raises ``InvalidInputError``."""
        if isinstance(values, cls):
            return values
        if isinstance(values, TaskOptions):
            values = values.model_dump()
        given = {k: v for k, v in (values or {}).items() if v is not None}
        try:
            return cls(**given)
        except ValidationError as exc:
            raise _invalid(cls, exc) from None
        except TypeError as exc:  # a validator given something it cannot even compare
            raise InvalidInputError(f"{cls.task_name}: {exc}") from None


def _invalid(cls: type[TaskOptions], exc: ValidationError) -> LlamaTasksError:
    error = exc.errors(include_url=False)[0]
    name = ".".join(str(part) for part in error["loc"]) or "options"
    if error["type"] == "extra_forbidden":
        known = ", ".join(cls.model_fields) or "none"
        return InvalidInputError(f"{cls.task_name} has no option {name!r}", hint=f"its options: {known}")
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, LlamaTasksError):  # a validator's own typed error keeps its class and hint
        return type(cause)(f"{cls.task_name}: {name}: {cause.message}", hint=cause.hint)
    message = str(error["msg"]).removeprefix("Value error, ")
    field = cls.model_fields.get(str(error["loc"][0])) if error["loc"] else None
    hint = field.description if field is not None and field.description else None
    got = error.get("input")
    shown = repr(got) if len(repr(got)) <= 80 else repr(got)[:77] + "..."
    return InvalidInputError(f"{cls.task_name}: {name}: {message} (got {shown})", hint=hint)


def flag_of(cls: type[TaskOptions], name: str) -> Flag:
    """The CLI ``Flag`` of field ``name`` (the default one when the field declares none)."""
    for meta in cls.model_fields[name].metadata:
        if isinstance(meta, Flag):
            return meta
    return Flag()


def described(*option_types: type[TaskOptions]) -> Any:
    """Append each options model's fields (description and default) to the decorated function's docstring.

    ``Model`` methods and the public functions keep explicit keyword
    signatures for editors and type checkers; their option docs come from the
    fields, so they cannot drift from the defaults the task uses.
    """
    def decorate(func: Any) -> Any:
        lines = []
        for cls in option_types:
            for name, field in cls.model_fields.items():
                default = "required" if field.is_required() else f"default {field.default!r}"
                lines.append(f"    {name} ({default}): {field.description or ''}".rstrip())
        doc = (func.__doc__ or "").rstrip()
        func.__doc__ = doc + "\n\nOptions:\n" + "\n".join(lines) + "\n" if lines else doc
        return func

    return decorate
