"""The error hierarchy. Each class says whether retrying the same operation can succeed.

ProtectError
├── ConfigurationError          (not retriable) bad settings or stage files
│   ├── StageDefinitionError    a stage/ruleset/metric definition is invalid; names the field
│   │   └── UnknownMetricError  a rule names a metric no scorer knows
│   └── MetricConfigError       a custom metric's declaration is invalid
├── StageNotFoundError          (not retriable) no such stage or version
│   └── ProjectNotFoundError    no such project (so no such stage in it either)
├── ScorerError                 (retriable) a scorer failed to compute; the event may succeed later
└── BrokerError                 (retriable) the Kafka cluster is unreachable or misbehaving
"""

from __future__ import annotations

from collections.abc import Iterable


class ProtectError(Exception):
    """Base of every error this package raises on purpose."""

    retriable: bool = False


class ConfigurationError(ProtectError):
    pass


class StageDefinitionError(ConfigurationError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)

    def within(self, context: str) -> StageDefinitionError:
        """The same error (same class) located inside `context`, e.g. a file's `stages[2]`."""
        # Bypass __init__: subclasses take different constructor arguments.
        located = type(self).__new__(type(self))
        located.__dict__.update(self.__dict__)
        located.field = f"{context}.{self.field}" if self.field else context
        located.args = (f"{context}.{self.args[0]}",)
        return located


class UnknownMetricError(StageDefinitionError):
    """`not_computed`: why, when the name is a Galileo metric this project does not compute."""

    def __init__(
        self,
        metric: str,
        known: Iterable[str],
        *,
        field: str | None = None,
        not_computed: str | None = None,
    ) -> None:
        self.metric = metric
        self.known = sorted(known)
        self.not_computed = not_computed
        what = (
            f"{metric!r} is a Galileo metric this project does not compute, {not_computed}"
            if not_computed
            else f"unknown metric {metric!r}"
        )
        super().__init__(f"{what}; known metrics: {', '.join(self.known)}", field=field)


class MetricConfigError(ConfigurationError):
    pass


class StageNotFoundError(ProtectError):
    pass


class ProjectNotFoundError(StageNotFoundError):
    """A project that does not exist holds no stage either: whoever looks a stage up catches
    StageNotFoundError and hears of a missing project too."""


class ScorerError(ProtectError):
    retriable = True


class BrokerError(ProtectError):
    retriable = True
