"""Language scorers: py3langid joined by the chat model, near-language letters and scripts."""

# The sentences are in other scripts on purpose: their look-alike characters are not typos.
# ruff: noqa: RUF001

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from worker.metrics import language
from worker.metrics.base import Execution, PayloadField, Scorer, ValueKind
from worker.metrics.evaluation import datasets_dir, read_jsonl
from worker.metrics.evaluation.corpus import training_rows
from worker.metrics.language import (
    LANGUAGE_LABELS,
    MODEL,
    ChatModel,
    InputLanguage,
    OutputLanguage,
    fold_label,
    get_chat_model,
    get_identifier,
    identify,
    language_scores,
    letter_scores,
    script_languages,
)
from worker.metrics.loading import Lazy

NTREX = datasets_dir() / "langid_ntrex" / "ntrex128_langid_sample.jsonl"


@pytest.mark.parametrize(
    ("scorer", "name", "field"),
    [
        (InputLanguage(), "input_language", PayloadField.INPUT),
        (OutputLanguage(), "output_language", PayloadField.OUTPUT),
    ],
)
def test_scorer_declarations(scorer: Scorer, name: str, field: PayloadField) -> None:
    assert scorer.name == name
    assert scorer.reads == (field,)
    assert scorer.kind is ValueKind.LABEL
    assert scorer.execution is Execution.INLINE
    assert scorer.labels == LANGUAGE_LABELS


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Can you help me reset my password for the billing portal?", "en"),
        ("¿Puedes ayudarme a restablecer la contraseña de mi cuenta?", "es"),
        ("Pouvez-vous m'aider à réinitialiser le mot de passe de mon compte ?", "fr"),
        ("Kannst du mir helfen, das Passwort für mein Konto zurückzusetzen?", "de"),
        ("Puoi aiutarmi a reimpostare la password del mio account?", "it"),
        ("Você pode me ajudar a redefinir a senha da minha conta?", "pt"),
        ("Kun je me helpen het wachtwoord van mijn account te herstellen?", "nl"),
        ("Czy możesz mi pomóc zresetować hasło do mojego konta?", "pl"),
        ("Можете ли вы помочь мне сбросить пароль от моей учетной записи?", "ru"),
        ("Чи можете ви допомогти мені скинути пароль до мого облікового запису?", "uk"),
        ("我忘记了我的账户密码，你能帮我重置吗？", "zh"),
        ("パスワードを忘れてしまったので、リセットを手伝ってもらえますか？", "ja"),
        ("비밀번호를 잊어버렸는데 재설정하는 것을 도와주실 수 있나요?", "ko"),
        ("هل يمكنك مساعدتي في إعادة تعيين كلمة المرور الخاصة بحسابي؟", "ar"),
        ("क्या आप मेरे खाते का पासवर्ड रीसेट करने में मेरी मदद कर सकते हैं?", "hi"),
        ("Hesabımın şifresini sıfırlamama yardım edebilir misin?", "tr"),
        ("Kan du hjälpa mig att återställa lösenordet till mitt konto?", "sv"),
        ("Μπορείς να με βοηθήσεις να επαναφέρω τον κωδικό πρόσβασης του λογαριασμού μου;", "el"),
        ("האם תוכל לעזור לי לאפס את הסיסמה של החשבון שלי?", "he"),
        ("Voitko auttaa minua vaihtamaan tilini salasanan?", "fi"),
        ("Bạn có thể giúp tôi đặt lại mật khẩu tài khoản của tôi không?", "vi"),
        ("WHERE IS MY ORDER? I PAID TWO WEEKS AGO", "en"),
    ],
)
def test_clear_sentences(text: str, code: str) -> None:
    assert identify(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # Short chat messages get their best label (the old scorer had no value for them).
        ("hola, que tal?", "es"),
        ("danke, bis morgen!", "de"),
        ("merci beaucoup !", "fr"),
        ("Děkuji, uvidíme se v pátek", "cs"),
        ("Ďakujem, uvidíme sa v piatok", "sk"),
        ("Mulțumesc, ne vedem vineri", "ro"),
        ("Дякую, усе добре", "uk"),
        ("Дзякуй, усё добра", "be"),
        ("Спасибо, всё хорошо", "ru"),
        ("Благодаря, всичко е наред", "bg"),
        ("Aitäh, näeme reedel", "et"),
        # Romanised Hindi: py3langid alone says Shona, Pulaar or Nigerian Pidgin.
        ("arre yaar, aaj bahut kaam hai", "hi"),
        ("bhai kal milte hain, tension mat le", "hi"),
        # Very short: the chat prior decides.
        ("ok", "en"),
        ("lol", "en"),
        ("hello there", "en"),
    ],
)
def test_short_chat_messages(text: str, code: str) -> None:
    assert identify(text) == code


@pytest.mark.parametrize("text", ["", "   ", "👍", "123 456", "???", "🙂🙂 :) 42"])
def test_text_without_letters_has_no_value(text: str) -> None:
    assert identify(text) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # Code-mixed: the host language's script holds enough of the letters.
        ("회의 끝나고 meeting notes 보내줄게요", "ko"),
        ("明日のmeetingは10時からです", "ja"),
        ("ขอบคุณครับ เจอกันวันศุกร์นะ", "th"),
        # An English sentence with one word in Hangul stays English.
        ("I really love 김치 and ramen on cold days", "en"),
    ],
)
def test_scripts_decide_when_they_hold_enough_letters(text: str, code: str) -> None:
    assert identify(text) == code


def test_script_languages() -> None:
    assert script_languages("감사합니다") == ("ko",)
    assert script_languages("谢谢你") == ("zh", "ja")  # Han alone: the models decide
    assert script_languages("ありがとう、金曜日に") == ("ja",)  # kana among Han: Japanese
    assert script_languages("hello") == ()
    assert script_languages("I love 김치 and ramen on cold days") == ()


def test_near_language_letters_count_against_the_languages_without_them() -> None:
    serbian = letter_scores("ћао")
    assert serbian[LANGUAGE_LABELS.index("mk")] < 0
    assert serbian[LANGUAGE_LABELS.index("sr")] == 0
    czech = letter_scores("řeka")
    assert czech[LANGUAGE_LABELS.index("sk")] < 0
    assert czech[LANGUAGE_LABELS.index("cs")] == 0
    assert not letter_scores("hello").any()


def test_a_near_language_letter_moves_the_decision() -> None:
    # "Благодарам" is Macedonian; the same words with Serbian ћ count against Macedonian.
    text = "Благодарам многу"
    scores = language_scores(text)
    with_letter = language_scores(text + " ћ")
    mk, sr = LANGUAGE_LABELS.index("mk"), LANGUAGE_LABELS.index("sr")
    assert with_letter[mk] - with_letter[sr] < scores[mk] - scores[sr]


def test_skipping_the_chat_model_never_changes_the_decision() -> None:
    texts = [row.text for row in training_rows("language")[::7]]
    texts += [row["text"] for row in list(read_jsonl(NTREX))[::97]]
    for text in texts:
        fast, exact = language_scores(text), language_scores(text, exact=True)
        assert np.argmax(fast) == np.argmax(exact), text


def test_identifier_probabilities_match_its_public_ranking() -> None:
    for text in ("Où est ma commande ?", "kya haal hai", "Привет", "ok", "👍"):
        fast = language.identifier_log_probs(text)
        ranked = language._ranked_log_probs(text)
        assert np.allclose(fast, ranked, atol=1e-5), text


def test_chat_model_file() -> None:
    model = get_chat_model()
    assert set(model.languages) <= set(LANGUAGE_LABELS)
    assert len(model.languages) >= 70
    assert model.log_probs.shape == (len(model.vocabulary), len(model.languages))
    assert np.isfinite(model.log_probs).all()
    # Naive Bayes: each language's n-gram probabilities sum to one.
    assert np.allclose(np.exp(model.log_probs.astype(np.float64)).sum(0), 1.0, atol=1e-3)
    assert model.log_prior[LANGUAGE_LABELS.index("en")] == 0.0  # the most written language
    assert MODEL.stat().st_size < 5_000_000
    card = model.card
    assert card["model"] == "language"
    assert card["data"]["rows"] > 1000
    assert "NTREX" in card["data"]["not_used"]


def test_chat_model_refuses_another_format(tmp_path: Path) -> None:
    with np.load(MODEL, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["format"] = np.array(99)
    path = tmp_path / "language.npz"
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(ValueError, match="format 99"):
        ChatModel.load(path, tmp_path / "card.json")


def test_chat_model_has_no_opinion_without_known_ngrams() -> None:
    assert get_chat_model().log_posterior("") is None
    posterior = get_chat_model().log_posterior("kya haal hai")
    assert posterior is not None
    assert np.isclose(np.exp(posterior).sum(), 1.0)


def test_score_batch_keeps_order() -> None:
    values = InputLanguage().score_batch(
        [("Où est ma commande ? Je l'ai payée il y a deux semaines.",), ("ok",), ("",)]
    )
    assert values == ["fr", "en", None]


def test_labels_are_the_models_labels_folded() -> None:
    model_labels = {fold_label(code) for code in get_identifier().labels}
    assert set(LANGUAGE_LABELS) == model_labels - {None}
    assert list(LANGUAGE_LABELS) == sorted(LANGUAGE_LABELS)


@pytest.mark.parametrize(
    ("code", "folded"),
    [("arz", "ar"), ("ary", "ar"), ("yue", "zh"), ("wuu", "zh"), ("en", "en"), ("zxx", None)],
)
def test_fold_label(code: str, folded: str | None) -> None:
    assert fold_label(code) == folded


def test_models_are_loaded_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(language, "_identifier", Lazy(language.load_identifier))
    monkeypatch.setattr(language, "_chat_model", Lazy(ChatModel.load))
    loaded: list[tuple[object, object]] = []
    start = threading.Barrier(8)

    def load() -> None:
        start.wait()
        loaded.append((get_identifier(), get_chat_model()))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loaded) == 8
    assert all(pair[0] is loaded[0][0] and pair[1] is loaded[0][1] for pair in loaded)
