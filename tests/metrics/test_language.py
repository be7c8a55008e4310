"""Language scorers on py3langid's bundled model."""

# The sentences are in other scripts on purpose: their look-alike characters are not typos.
# ruff: noqa: RUF001

from __future__ import annotations

import threading

import pytest

from worker.metrics import language
from worker.metrics.base import Execution, PayloadField, Scorer, ValueKind
from worker.metrics.language import (
    LANGUAGE_LABELS,
    InputLanguage,
    OutputLanguage,
    fold_label,
    get_identifier,
    identify,
)
from worker.metrics.loading import Lazy


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
    "text",
    [
        "",
        "   ",
        "ok",
        "hi",
        "yes",
        "lol",
        "thanks!",
        "👍",
        "123 456",
        "???",
        "hello there",  # the model's best guess is Sesotho, at 0.43
    ],
)
def test_short_or_ambiguous_text_has_no_value(text: str) -> None:
    assert identify(text) is None


def test_score_batch_keeps_order() -> None:
    values = InputLanguage().score_batch(
        [("Où est ma commande ? Je l'ai payée il y a deux semaines.",), ("ok",), ("",)]
    )
    assert values == ["fr", None, None]


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


def test_identifier_is_loaded_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(language, "_identifier", Lazy(language.load_identifier))
    loaded: list[object] = []
    start = threading.Barrier(8)

    def load() -> None:
        start.wait()
        loaded.append(get_identifier())

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loaded) == 8
    assert all(identifier is loaded[0] for identifier in loaded)
