"""The evaluation engine: a Request and its resolved rulesets in, a Response out. Knows no Kafka."""

from worker.engine.evaluate import Evaluator
from worker.engine.resolution import Resolution

__all__ = ["Evaluator", "Resolution"]
