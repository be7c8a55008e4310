"""Chat-style romanisation of the language model's training examples."""

# The examples are in other scripts on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import random

import pytest

from worker.metrics.training.romanise import romaji, romanise


@pytest.mark.parametrize(
    ("text", "language", "latin"),
    [
        ("Привет, как дела?", "ru", "Privet, kak dela?"),
        ("Привіт! Як справи?", "uk", "Pryvit! Yak spravy?"),
        ("Дзякуй", "be", "Dzyakuy"),
        ("Хвала, видимо се", "sr", "Hvala, vidimo se"),  # Serbian's own Latin alphabet
        ("Ћао, шта радиш?", "sr", "Ćao, šta radiš?"),
        ("Γεια σου", "el", "Geia soy"),
    ],
)
def test_alphabet_tables(text: str, language: str, latin: str) -> None:
    assert romanise(text, language, random.Random(0)) == latin


def test_indic_scripts_drop_the_inherent_vowel_where_speech_does() -> None:
    rng = random.Random(0)
    # Hindi drops it at a word's end ("kal", not "kala"); Tamil keeps it ("rompa").
    hindi = romanise("कल मिलते हैं", "hi", rng)
    assert hindi is not None
    assert hindi.split()[0] == "kal"
    assert hindi.split()[-1] == "hain"
    tamil = romanise("ரொம்ப நன்றி", "ta", rng)
    assert tamil == "rompa nanri"


def test_romaji_from_kana_and_kanji_as_breaks() -> None:
    assert romaji("ありがとう") == "arigatou"
    assert romaji("ちょっと") == "chotto"
    assert romaji("また明日ね") == "mata ne"


@pytest.mark.parametrize(
    ("text", "language"),
    [("hola, que tal?", "es"), ("谢谢", "zh"), ("Спасибо", "fr"), ("سلام", "he")],
)
def test_no_romanisation(text: str, language: str) -> None:
    assert romanise(text, language, random.Random(0)) is None


@pytest.mark.parametrize(
    ("text", "language", "latin"),
    [
        ("حبيبي", "ar", "7abibi"),  # Arabizi: ح is 7; the short vowel after the first consonant
        ("سلام", "fa", "salam"),
        ("خوبی", "fa", "khobi"),
        ("آپ کیسے ہیں", "ur", "aap kise hin"),
    ],
)
def test_arabic_script_chat_spelling(text: str, language: str, latin: str) -> None:
    assert romanise(text, language, random.Random(0)) == latin


def test_random_choices_follow_the_generator() -> None:
    text = "आपका बहुत बहुत धन्यवाद, आज बहुत काम है"
    assert romanise(text, "hi", random.Random(5)) == romanise(text, "hi", random.Random(5))
