"""Toxicity (`input_toxicity`, `output_toxicity`): a trained head over the shared embedding.

The score (0-1) is a logistic-regression head (`models/toxicity.npz`, card beside it) on the
all-MiniLM-L6-v2 sentence embedding plus a hashed bag of words, trained on Davidson et al.'s tweets
(hate speech and offensive language vs neither), ToxiGen's seed statements (implicit hate vs
neutral statements about the same groups) and our written chat messages and assistant replies
(`training-data/toxicity.jsonl`: insults without slurs, veiled threats, polite hate, and hard
negatives such as civil criticism, quoted abuse and "kill the process"), with assistant queries
(CLINC150), benign assistant prompts and ChatGPT answers as extra negatives. The score is a
probability calibrated on the realistic corpus's validation half (`evals/toxicity.jsonl`), so
`gte 0.5` is the default decision and `gte 0.9` a high-precision one. A long text scores the max
over its sentence chunks (`embedding.chunk_text`), so one abusive sentence inside a polite message
still scores high. Quality: `worker/metrics/evaluation/toxicity.py` (`protect eval`).

What it is not: a threat, self-harm or harmful-request detector (a polite request for something
dangerous is not "toxic" here), nor a profanity filter (casual swearing without an insult or a
target can score either way). Davidson's annotations carry a known dialect bias (African-American
English tweets are over-labelled offensive), which a head trained on them inherits.
"""

from __future__ import annotations

from worker.metrics.base import PayloadField
from worker.metrics.heads import HeadScorer

HEAD = "toxicity"


class InputToxicity(HeadScorer):
    name = "input_toxicity"
    reads = (PayloadField.INPUT,)
    head_name = HEAD


class OutputToxicity(HeadScorer):
    name = "output_toxicity"
    reads = (PayloadField.OUTPUT,)
    head_name = HEAD


__all__ = ["HEAD", "InputToxicity", "OutputToxicity"]
