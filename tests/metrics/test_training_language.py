"""Training the language identifier's chat model: augmentation and the fitted arrays."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from worker.metrics.evaluation.corpus import LanguageRow, training_rows
from worker.metrics.language import MODEL, ChatModel
from worker.metrics.training import language as training


def _row(i: int, text: str, lang: str) -> LanguageRow:
    return LanguageRow.model_validate(
        {
            "id": f"t-{i}",
            "text": text,
            "lang": lang,
            "words": len(text.split()),
            "code_mixed": False,
            "register": "chat",
        }
    )


ROWS = [
    _row(1, "¿Dónde está la estación de tren más cercana?", "es"),
    _row(2, "Привет, как дела? Давно не виделись", "ru"),
    _row(3, "मुझे कल की छुट्टी चाहिए, तबियत ठीक नहीं है", "hi"),
    _row(4, "Where is the nearest train station, please?", "en"),
    _row(5, "我的快递怎么还没到", "zh"),
]


def test_augmentation_adds_twins_and_crops_reproducibly() -> None:
    examples = training.augmented(ROWS, seed=1)
    assert examples == training.augmented(ROWS, seed=1)
    kinds = {(lang, kind) for _, lang, kind in examples}
    assert ("ru", "romanised") in kinds
    assert ("hi", "romanised") in kinds
    assert ("es", "no_diacritics") in kinds
    assert ("zh", "written_crop") in kinds
    romanised = [text for text, lang, kind in examples if kind == "romanised"]
    assert romanised
    assert all(text.isascii() for text in romanised)
    for text, lang, kind in examples:
        if kind.endswith("_crop") and lang != "zh":
            assert 2 <= len(text.split()) <= 6


def test_crop_is_a_window_of_the_text() -> None:
    rng = random.Random(0)
    text = "one two three four five six seven eight nine ten"
    for _ in range(20):
        window = training.crop(text, rng)
        assert window is not None
        assert window in text
    assert training.crop("hi there", rng) is None


def test_fit_writes_a_model_the_scorer_loads(tmp_path: Path) -> None:
    rows = [row for row in training_rows("language") if row.lang in {"cs", "sk", "en"}]
    arrays = training.fit(training.augmented(rows))
    path = tmp_path / "language.npz"
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    model = ChatModel.load(path, tmp_path / "no-card.json")
    assert model.languages == ("cs", "en", "sk")
    assert int(arrays["count_index"].max()) < len(model.vocabulary) * len(model.languages)

    def best(text: str) -> str:
        posterior = model.log_posterior(text)
        assert posterior is not None
        return model.languages[int(np.argmax(posterior))]

    assert best("Děkuji moc, uvidíme se zítra") == "cs"
    assert best("Ďakujem veľmi pekne, uvidíme sa zajtra") == "sk"
    assert best("Thanks a lot, see you tomorrow") == "en"


def test_training_reproduces_the_committed_model() -> None:
    arrays = training.fit(training.augmented(training_rows("language")))
    with np.load(MODEL, allow_pickle=False) as committed:
        assert set(committed.files) == set(arrays)
        for key, value in arrays.items():
            assert np.array_equal(committed[key], value), key
