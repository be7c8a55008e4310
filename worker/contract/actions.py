"""Actions a triggered ruleset takes, and the webhook subscriptions they carry."""

from __future__ import annotations

import warnings
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)

from worker.contract.statuses import ActionType, ExecutionStatus


class Subscription(BaseModel):
    """An HTTP POST of the Response to `url` when the ruleset's status is one of `statuses`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, Field(min_length=1, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$")]
    statuses: list[ExecutionStatus] = Field(default_factory=lambda: [ExecutionStatus.TRIGGERED])

    @field_validator("statuses")
    @classmethod
    def _drop_paused(cls, statuses: list[ExecutionStatus]) -> list[ExecutionStatus]:
        # `paused` is a stage status: a ruleset is never paused, so it would never fire.
        if ExecutionStatus.PAUSED in statuses:
            warnings.warn(
                "subscription status 'paused' is a stage status and never applies to a "
                "ruleset; ignored",
                UserWarning,
                stacklevel=2,
            )
            statuses = [s for s in statuses if s is not ExecutionStatus.PAUSED]
        return list(dict.fromkeys(statuses))


class _ActionBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("type", mode="before", check_fields=False)
    @classmethod
    def _fold_type(cls, value: Any) -> Any:
        try:
            return ActionType(value)
        except ValueError:
            return value


class OverrideAction(_ActionBase):
    """Replace the text with one of `choices`, picked at random."""

    type: Literal[ActionType.OVERRIDE] = ActionType.OVERRIDE
    # An empty choice is Galileo's too: the text is replaced by nothing (a silent block).
    choices: Annotated[list[str], Field(min_length=1)]
    subscriptions: list[Subscription] = Field(default_factory=list)


class PassthroughAction(_ActionBase):
    """Return the payload text unchanged; the application decides what to do."""

    type: Literal[ActionType.PASSTHROUGH] = ActionType.PASSTHROUGH
    subscriptions: list[Subscription] = Field(default_factory=list)


def _action_tag(value: Any) -> str | None:
    # Case-insensitive discriminator so `type: override` loads like `type: OVERRIDE`; an action
    # without a type is a passthrough, the Galileo default. Anything that is neither a mapping
    # nor an action model gets no tag, so pydantic reports it against the field (it must never
    # escape validation as an AttributeError: that would stop a worker).
    if isinstance(value, dict):
        raw = value.get("type", ActionType.PASSTHROUGH)
    elif isinstance(value, OverrideAction | PassthroughAction):
        raw = value.type
    else:
        return None
    try:
        return ActionType(raw).value
    except (ValueError, TypeError):
        return None


def passthrough_if_unset(value: Any) -> Any:
    """Galileo's `Ruleset.validate_action`: a falsy action (`null`, `{}`, ...) is a passthrough."""
    return value if value else PassthroughAction()


Action: TypeAlias = Annotated[
    Annotated[OverrideAction, Tag(ActionType.OVERRIDE.value)]
    | Annotated[PassthroughAction, Tag(ActionType.PASSTHROUGH.value)],
    Discriminator(
        _action_tag,
        custom_error_type="invalid_action_type",
        custom_error_message="action must be an object whose type is OVERRIDE or PASSTHROUGH",
    ),
]
