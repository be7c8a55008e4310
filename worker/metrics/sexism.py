"""Sexism (`input_sexist`, `output_sexist`): a trained head over the shared embedding.

The score (0-1) is a logistic-regression head (`models/sexism.npz`, card beside it) on the
all-MiniLM-L6-v2 sentence embedding plus a hashed bag of words and a TF-IDF block of 20,000
character 2-5-grams, trained on EDOS (SemEval-2023 Task 10: Gab and Reddit posts labelled sexist
or not by trained annotators with expert adjudication), with assistant queries (CLINC150), benign
assistant prompts and ChatGPT answers as extra negatives. 0.5 is the head's decision point (picked
on validation). A long text scores the max over its sentence chunks. Quality on held-out test
splits: `worker/metrics/evaluation/sexism.py` (`protect eval`).

It falls short of the goal (F1 0.75): 0.656 on the EDOS test split (AUC 0.886). The char block
added 0.016 validation F1 (0.015 in 5-fold cross-validation on the training split, every fold up)
but moved test F1 by only 0.002 (test AUC +0.007). An MLP on the embedding, word-pair TF-IDF,
EDOS's four categories as classes and mixing in an MLP's scores each stayed within 0.01 on
validation (training/heads.py notes). A frozen 384-d sentence embedding blurs much of EDOS's
implicit, context-dependent sexism; fine-tuned transformers report sexist-class F1 around 0.8
on EDOS.

EDOS defines sexism as abuse or prejudice against women (derogation, animosity, threats,
prejudiced discussion); the head learnt that notion, so hostility towards men, or a neutral
mention of gender, mostly scores low.
"""

from __future__ import annotations

from worker.metrics.base import PayloadField
from worker.metrics.heads import HeadScorer

HEAD = "sexism"


class InputSexist(HeadScorer):
    name = "input_sexist"
    reads = (PayloadField.INPUT,)
    head_name = HEAD


class OutputSexist(HeadScorer):
    name = "output_sexist"
    reads = (PayloadField.OUTPUT,)
    head_name = HEAD


__all__ = ["HEAD", "InputSexist", "OutputSexist"]
