"""From the settings to what the engine is started with: the one place every engine's options are made (the
app, the CLI's predict and predict-video, `analyze` and its Ray actors).

Each option has its setting's name, so each group is read by name rather than copied field by field: a field
added to an option group is filled from the setting of that name, or fails at once if there is none."""

from __future__ import annotations

from dataclasses import Field, fields
from typing import Any, ClassVar, Protocol, TypeVar

from motivnet_serve.core.engine_options import EngineLimits, EngineOptions, ModelToLoad
from motivnet_serve.core.results import BatchingInfo
from motivnet_serve.settings import Settings


class Dataclass(Protocol):
    """Any dataclass (what `dataclasses.fields` takes)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]


Options = TypeVar("Options", bound=Dataclass)


def engine_options(settings: Settings) -> EngineOptions:
    return EngineOptions(
        model=_read(ModelToLoad, settings),
        batching=BatchingInfo.model_validate(settings, from_attributes=True),
        limits=_read(EngineLimits, settings.limits),
    )


def _read(group: type[Options], source: object) -> Options:
    """`group` with each field set to `source`'s attribute of the same name."""
    return group(**{field.name: getattr(source, field.name) for field in fields(group)})
