"""Metric registry: metric names (and Galileo's aliases) to scorers, and stage validation."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from worker.contract.rules import Ruleset, TargetValue
from worker.contract.statuses import RuleOperator
from worker.errors import MetricConfigError, UnknownMetricError
from worker.metrics.base import Scorer, ValueKind

# Galileo's legacy and alternative names, as sent on the wire, to our canonical metric names.
GALILEO_ALIASES: dict[str, str] = {
    "pii": "output_pii",
    "toxicity": "output_toxicity",
    "sexist": "output_sexist",
    "input_sexism": "input_sexist",
    "output_sexism": "output_sexist",
    "tone": "output_tone",
    "context_adherence_luna": "context_adherence",
    # galileo-core's older scorer name for Luna context adherence.
    "adherence_nli": "context_adherence",
    # Galileo's small-model (Luna) variants: what Protect runs, and what our local models are.
    "completeness_luna": "completeness",
    "prompt_injection_luna": "prompt_injection",
    "input_toxicity_luna": "input_toxicity",
    "output_toxicity_luna": "output_toxicity",
    "input_sexist_luna": "input_sexist",
    "output_sexist_luna": "output_sexist",
    "input_sexism_luna": "input_sexist",
    "output_sexism_luna": "output_sexist",
}

# Galileo metric and scorer names (galileo-core's ScorerName and legacy Scorers, galileo's
# CoreScorerName) that no scorer here computes, with the reason. A rule naming one is refused at
# registration with that reason rather than as a typo; tests/galileo compares this list with the
# installed packages' enums, so a name Galileo adds is noticed.
_AGENT_TRACE = (
    "an agentic metric: it needs the agent's trace (steps, tool calls and their results) and "
    "an LLM judge, while a payload holds one input and one output"
)
_SESSION = "a session metric: it needs the whole multi-turn conversation and an LLM judge"
_CHUNKS = (
    "a retrieval metric: it needs the retrieved chunks as separate documents (and their "
    "ranking), while a payload carries one context text"
)
_REFERENCE = "a reference-based metric: it needs a ground-truth answer, which payloads do not carry"
_JUDGE = (
    "an LLM-judge metric: it needs world knowledge or the application's instructions, which "
    "only a large model judging the output has"
)
_SQL = "a text-to-SQL metric: it needs the generated query, the database schema and an LLM judge"
_LOGPROBS = "it needs the generating model's token log-probabilities"
_MULTIMODAL = "a multimodal metric: it needs image or audio input, while payloads are text"

# LLM-judge (`_gpt`, "plus") variants of metrics we do compute, with the name to use instead.
_LLM_JUDGE_OF: dict[str, str] = {
    "input_pii_gpt": "input_pii",
    "output_pii_gpt": "output_pii",
    "input_tone_gpt": "input_tone",
    "output_tone_gpt": "output_tone",
    "input_toxicity_gpt": "input_toxicity",
    "output_toxicity_gpt": "output_toxicity",
    "toxicity_gpt": "output_toxicity",
    "input_sexist_gpt": "input_sexist",
    "output_sexist_gpt": "output_sexist",
    "sexist_gpt": "output_sexist",
    "prompt_injection_gpt": "prompt_injection",
    "completeness_gpt": "completeness",
    "context_adherence_gpt": "context_adherence",
    "groundedness": "context_adherence",
}

GALILEO_NOT_COMPUTED: dict[str, str] = {
    **{
        name: f"the LLM-judge variant of {ours!r}, which this project computes with a local "
        f"model: use {ours!r}"
        for name, ours in _LLM_JUDGE_OF.items()
    },
    **dict.fromkeys(
        [
            "action_advancement",
            "action_advancement_luna",
            "action_completion",
            "action_completion_luna",
            "agent_efficiency",
            "agent_flow",
            "agentic_session_success",
            "agentic_session_success_gpt",
            "agentic_workflow_success",
            "agentic_workflow_success_gpt",
            "reasoning_coherence",
            "tool_error_rate",
            "tool_error_rate_gpt",
            "tool_error_rate_luna",
            "tool_selection_quality",
            "tool_selection_quality_gpt",
            "tool_selection_quality_luna",
        ],
        _AGENT_TRACE,
    ),
    **dict.fromkeys(
        ["conversation_quality", "interruption_detection", "user_intent_change"], _SESSION
    ),
    **dict.fromkeys(
        [
            "chunk_attribution_utilization",
            "chunk_attribution_utilization_gpt",
            "chunk_attribution_utilization_luna",
            "chunk_attribution_utilization_nli",
            "chunk_relevance",
            "chunk_relevance_luna",
            "context_precision",
            "context_relevance",
            "context_relevance_luna",
            "precision_at_k",
        ],
        _CHUNKS,
    ),
    **dict.fromkeys(["bleu", "ground_truth_adherence", "rouge"], _REFERENCE),
    **dict.fromkeys(["correctness", "factuality", "instruction_adherence"], _JUDGE),
    **dict.fromkeys(["sql_adherence", "sql_correctness", "sql_efficiency", "sql_injection"], _SQL),
    **dict.fromkeys(["prompt_perplexity", "uncertainty"], _LOGPROBS),
    **dict.fromkeys(
        [
            "action_completion_audio",
            "action_completion_vision",
            "context_adherence_audio",
            "context_adherence_vision",
            "correctness_audio",
            "correctness_vision",
            "ground_truth_adherence_audio",
            "ground_truth_adherence_vision",
            "input_toxicity_audio",
            "input_toxicity_vision",
            "output_toxicity_audio",
            "output_toxicity_vision",
            "reasoning_coherence_audio",
            "reasoning_coherence_vision",
            "user_intent_change_audio",
            "user_intent_change_vision",
            "visual_fidelity",
            "visual_quality",
        ],
        _MULTIMODAL,
    ),
}

_SCORE_OPERATORS = frozenset(
    {
        RuleOperator.GT,
        RuleOperator.LT,
        RuleOperator.GTE,
        RuleOperator.LTE,
        RuleOperator.EQ,
        RuleOperator.NEQ,
    }
)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def can_trigger(kind: ValueKind, operator: RuleOperator, target: TargetValue) -> bool:
    """Whether any value of `kind` can make the rule trigger (the semantics page's table)."""
    if kind is ValueKind.SCORE:
        return operator in _SCORE_OPERATORS and _is_number(target)
    if kind is ValueKind.LABEL:
        if operator in (RuleOperator.EQ, RuleOperator.NEQ):
            return isinstance(target, str)
        return operator is RuleOperator.ANY and isinstance(target, list)
    if operator in (RuleOperator.EMPTY, RuleOperator.NOT_EMPTY):
        return target is None  # galileo-core: only without a target
    if operator is RuleOperator.CONTAINS:
        return isinstance(target, str)
    return operator in (RuleOperator.ALL, RuleOperator.ANY) and isinstance(target, list)


@dataclass(frozen=True, slots=True)
class StageWarning:
    """A rule that is valid but suspicious (never triggers, or names an unknown label)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class MetricRegistry:
    def __init__(self, scorers: Iterable[Scorer] = ()) -> None:
        self._scorers: dict[str, Scorer] = {}
        for scorer in scorers:
            self.register(scorer)

    def register(self, scorer: Scorer, *, replace: bool = False) -> None:
        name = scorer.name
        if name in GALILEO_ALIASES:
            raise MetricConfigError(
                f"metric name {name!r} is a Galileo alias of {GALILEO_ALIASES[name]!r}; "
                "register the scorer under the canonical name"
            )
        if name in self._scorers and not replace:
            raise MetricConfigError(f"metric {name!r} is already registered")
        self._scorers[name] = scorer

    def canonical(self, name: str) -> str:
        return GALILEO_ALIASES.get(name, name)

    def resolve(self, name: str, *, field: str | None = None) -> Scorer:
        scorer = self._scorers.get(self.canonical(name))
        if scorer is None:
            raise UnknownMetricError(
                name, self.names(), field=field, not_computed=GALILEO_NOT_COMPUTED.get(name)
            )
        return scorer

    def names(self) -> list[str]:
        """Every name a rule may use: canonical names and the aliases that resolve."""
        aliases = [a for a, target in GALILEO_ALIASES.items() if target in self._scorers]
        return sorted([*self._scorers, *aliases])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) in self._scorers

    def __iter__(self) -> Iterator[Scorer]:
        return iter(self._scorers.values())

    def validate_rulesets(
        self, rulesets: Sequence[Ruleset], *, field: str = "prioritized_rulesets"
    ) -> list[StageWarning]:
        """Raise UnknownMetricError for a metric no scorer knows; return warnings otherwise."""
        warnings: list[StageWarning] = []
        for i, ruleset in enumerate(rulesets):
            for j, rule in enumerate(ruleset.rules):
                where = f"{field}[{i}].rules[{j}]"
                scorer = self.resolve(rule.metric, field=f"{where}.metric")
                if not can_trigger(scorer.kind, rule.operator, rule.target_value):
                    warnings.append(
                        StageWarning(
                            where,
                            f"operator {rule.operator.value!r} with target "
                            f"{rule.target_value!r} can never trigger for {rule.metric!r}, "
                            f"whose value is {_kind_phrase(scorer.kind)}",
                        )
                    )
                odd = _non_label_items(scorer, rule.target_value)
                if odd:
                    warnings.append(
                        StageWarning(
                            f"{where}.target_value",
                            f"{', '.join(map(repr, odd))} in the list are not labels: "
                            f"{rule.metric!r} values never equal them",
                        )
                    )
                unknown = _unknown_labels(scorer, rule.target_value)
                if unknown:
                    warnings.append(
                        StageWarning(
                            f"{where}.target_value",
                            f"{', '.join(map(repr, unknown))} not among {rule.metric!r} labels "
                            f"({', '.join(scorer.labels or ())}): the rule cannot match them",
                        )
                    )
        return warnings


def _kind_phrase(kind: ValueKind) -> str:
    return {
        ValueKind.SCORE: "a number (use gt/lt/gte/lte/eq/neq with a number)",
        ValueKind.LABEL: "one label (use eq/neq with a label, or any with a list)",
        ValueKind.LABELS: "a list of labels (use contains/all/any/empty/not_empty)",
    }[kind]


def _unknown_labels(scorer: Scorer, target: TargetValue) -> list[str]:
    if scorer.labels is None or scorer.kind is ValueKind.SCORE:
        return []
    targets = target if isinstance(target, list) else [target]
    vocabulary = set(scorer.labels)
    return [t for t in targets if isinstance(t, str) and t not in vocabulary]


def _non_label_items(scorer: Scorer, target: TargetValue) -> list[object]:
    """Items of a list target that are not strings: a label can never equal them."""
    if scorer.kind is ValueKind.SCORE or not isinstance(target, list):
        return []
    return [t for t in target if not isinstance(t, str)]
