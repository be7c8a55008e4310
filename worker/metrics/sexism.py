"""Sexism (`input_sexist`, `output_sexist`): a trained head over the shared embedding.

The score (0-1) is a logistic-regression head (`models/sexism.npz`, card beside it) on the
all-MiniLM-L6-v2 sentence embedding plus a hashed bag of words and a TF-IDF block of 20,000
character 2-5-grams, trained on EDOS (SemEval-2023 Task 10: Gab and Reddit posts labelled sexist
or not by trained annotators with expert adjudication) and our written chat messages and assistant
replies (`training-data/sexism.jsonl`: stereotyping, discriminatory requests, benevolent sexism,
sexism against men and non-binary people, and hard negatives such as discussing sexism, gendered
but neutral language and medical facts by sex), with assistant queries (CLINC150), benign
assistant prompts and ChatGPT answers as extra negatives. The score is a probability calibrated on
the realistic corpus's validation half (`evals/sexism.jsonl`), so `gte 0.5` is the default
decision. A long text scores the max over its sentence chunks. Quality:
`worker/metrics/evaluation/sexism.py` (`protect eval`).

On EDOS itself it falls short (F1 0.62 on the test split at the calibrated 0.5, AUC 0.88): EDOS's
sexism is often implicit and context-dependent, which a frozen 384-d sentence embedding blurs
(fine-tuned transformers report sexist-class F1 around 0.8), and the realistic calibration puts
0.5 lower than EDOS's own best threshold. Tried and within 0.01 on EDOS validation: an MLP on the
embedding, word-pair TF-IDF, EDOS's four categories as classes (training/heads.py notes).
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
