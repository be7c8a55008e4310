"""PII scorers on the real Presidio recognizers: chat-like positives, negatives, no network."""

from __future__ import annotations

import importlib
import re
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from phonenumbers import phonenumbermatcher
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from tests.offline import run_fresh
from worker.metrics import pii
from worker.metrics.base import Execution, PayloadField, Scorer, ValueKind
from worker.metrics.evaluation.corpus import training_rows
from worker.metrics.loading import Lazy
from worker.metrics.pii import PII_LABELS, SCORE_THRESHOLD, InputPii, OutputPii, get_detector
from worker.metrics.pii_names import NAME_DECISION

ROOT = Path(__file__).resolve().parents[2]


def detect(text: str) -> list[str]:
    return get_detector().detect(text)


@pytest.mark.parametrize(
    ("scorer", "name", "field"),
    [
        (InputPii(), "input_pii", PayloadField.INPUT),
        (OutputPii(), "output_pii", PayloadField.OUTPUT),
    ],
)
def test_scorer_declarations(scorer: Scorer, name: str, field: PayloadField) -> None:
    assert scorer.name == name
    assert scorer.reads == (field,)
    assert scorer.kind is ValueKind.LABELS
    assert scorer.execution is Execution.THREAD
    assert scorer.labels == PII_LABELS


def test_vocabulary_is_galileos() -> None:
    assert PII_LABELS == (
        "account_info",
        "address",
        "credit_card_info",
        "date_of_birth",
        "email",
        "name",
        "network_info",
        "password",
        "phone_number",
        "ssn",
        "username",
    )
    assert set(pii.ENTITY_LABELS.values()) <= set(PII_LABELS)


def test_acceptance_ssn_sample_is_flagged() -> None:
    # The product's acceptance test: Presidio itself discards 123-45-6789 as a placeholder.
    assert InputPii().score_batch([("my ssn is 123-45-6789",)]) == [["ssn"]]
    assert OutputPii().score_batch([("my ssn is 123-45-6789",)]) == [["ssn"]]


def test_batch_keeps_order_and_returns_sorted_distinct_labels() -> None:
    values = InputPii().score_batch(
        [
            ("no pii here",),
            ("call +1 415 555 2671 or mail bob@gmail.com, or bob.smith@yahoo.com",),
            ("",),
        ]
    )
    assert values == [[], ["email", "phone_number"], []]


@pytest.mark.parametrize(
    "text",
    [
        "my ssn is 123-45-6789",
        "My SSN: 536-22-1234",
        "social security number: 219-09-9999",
        "here it is 536-22-1234 thanks",  # delimited: no context word needed
        "SSN is 219.09.9999",
        "my ssn 536221234",  # a bare 9-digit run needs the context word
        "my social security number is 219099999",
        "ssn 078-05-1120",  # another published sample, also kept
    ],
)
def test_ssn(text: str) -> None:
    assert detect(text) == ["ssn"]


@pytest.mark.parametrize(
    "text",
    [
        "my ssn is 000-12-3456",  # area 000 never issued
        "my ssn is 666-12-3456",  # area 666 never issued
        "my ssn is 536-00-1234",  # zero group
        "my ssn is 536-22-0000",  # zero serial
        "my ssn is 111-11-1111",  # all the same digit
        "my ssn is 536-22.1234",  # mismatched delimiters
    ],
)
def test_ssn_structural_checks_are_kept(text: str) -> None:
    assert "ssn" not in detect(text)


@pytest.mark.parametrize(
    "text",
    [
        "call me at 212-555-0123",
        "my number is (415) 555-2671",
        "my cell is 415.555.2671, text anytime",
        "reach me on +1 415 555 2671",
        "you can call 2125550123 after 5pm",
        "my UK mobile is +44 20 7946 0958",
        "in Berlin I'm on +49 30 901820",
        "mon numéro: +33 1 42 68 53 00",
        "whatsapp me at +91 98765 43210",
        "office line 020 7946 0958",
    ],
)
def test_phone_numbers(text: str) -> None:
    assert detect(text) == ["phone_number"]


@pytest.mark.parametrize(
    "text",
    [
        "email me at john.doe@fastmail.com",
        "my address is anna.k+news@mail.example.co.uk, write anytime",
        "Contact: JOHN.SMITH@PROTON.ME",
        "send it to support-team@my-company.io please",
        # A reserved domain in a person's address is what people type to try the detector.
        "reach me at jane.doe@example.com",
        "write to jane@example.org or to bob@example.org",
    ],
)
def test_emails(text: str) -> None:
    assert detect(text) == ["email"]


@pytest.mark.parametrize(
    "text",
    [
        "my visa is 4111 1111 1111 1111 exp 12/27",
        "card number 4012888888881881",
        "here's my mastercard: 5555 5555 5555 4444",
        "charge 5105-1051-0510-5100 please",
        "amex 3782 822463 10005",
        "use my credit card account 4111111111111111",  # a card, not also a bank account
    ],
)
def test_credit_cards(text: str) -> None:
    assert detect(text) == ["credit_card_info"]


@pytest.mark.parametrize(
    "text",
    [
        "the server is at 192.168.1.10",
        "ssh into 10.0.0.1 and restart it",
        "my ip is 8.8.4.4",
        "ping 2001:db8::1 to test",
        "link-local fe80::1ff:fe23:4567:890a on eth0",
        "my router's mac address is 00:1A:2B:3C:4D:5E",
        "device 0012.3456.789A is offline",
    ],
)
def test_network_info(text: str) -> None:
    assert detect(text) == ["network_info"]


@pytest.mark.parametrize(
    "text",
    [
        "my IBAN is DE89 3704 0044 0532 0130 00",
        "send it to GB82WEST12345698765432 please",
        "IBAN: FR14 2004 1010 0505 0001 3M02 606",
        "my account number is 12345678",
        "bank acct 000123456789",
        "tip me at bitcoin wallet 1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
    ],
)
def test_account_info(text: str) -> None:
    assert detect(text) == ["account_info"]


@pytest.mark.parametrize(
    "text",
    [
        "Can you help me reset my password for the billing portal?",
        "Summarize the attached report in three bullet points.",
        "I have 3 apples and 42 oranges",
        "your order #98765432 has shipped",
        "meet me on 2024-01-15 at 10:30",
        "see you on 01/15/2024",
        "the total is $1,299.99 including tax",
        "my zip code is 94103",
        "in 1640 the war began",  # libphonenumber accepts it as a German service number
        "ticket 164012 was closed",
        "the population is 8,336,817",
        "upgrade to version 10.0.19041.1",
        "ISBN 978-3-16-148410-0",
        "pi is 3.14159265358979",
        "reference 20240115123045",
        "cybersecurity ticket 536221234",  # "security" counts only as a whole word
        "checkout order 12345678",  # "check" counts only as a whole word
        "card 4111 1111 1111 1112",  # fails Luhn
        "IBAN DE89 3704 0044 0532 0130 01",  # bad checksum
        "write to me at john at example dot com",
        "contact: x@y.z",  # no public suffix
        "upgrade to version 1.2.3.4",  # an IPv4 shape after a version word
        "order 12345678901 shipped",  # a phone shape after an identifier word
        "part number 123-45-6789-B is out of stock",  # an SSN shape inside a part number
        "Chrome/124.0.6367.118 Safari/537.36",
        "reply to support@example.com",  # a role address on a reserved domain (RFC 2606)
        "e.g. anna@example.com",  # said to be an example
        "INSERT INTO users VALUES (1, 'Ann', 'ann.lee@example.com');",  # a literal in code
        "write to someone@yourdomain.com",  # a template domain
        "mock = {'username': '<username>', 'password': '********'}",
        "const [password, setPassword] = useState('');",
        "my daughter's birthday is 14 june",  # a birthday without a year
        "SELECT name FROM users WHERE dob < '2007-01-01';",
        "",
        "   ",
    ],
)
def test_negatives(text: str) -> None:
    assert detect(text) == []


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        # Context words are looked for only before the number.
        ("536221234 is my ssn", []),
        # Only public suffixes count: internal domains are not emails.
        ("write to ops@corp.internal", []),
    ],
)
def test_known_limitations(text: str, labels: list[str]) -> None:
    """Pins behaviour we know is wrong, so a change to it is noticed and this list updated."""
    assert detect(text) == labels


def test_context_words_raise_scores() -> None:
    detector = get_detector()
    assert detector.analyze("ref 536221234") == []
    (result,) = detector.analyze("my ssn is 536221234")
    assert result.entity_type == "US_SSN"
    assert result.score >= SCORE_THRESHOLD
    # A delimited SSN scores 0.5 alone and 0.85 next to "ssn".
    (bare,) = detector.analyze("here it is 536-22-1234")
    (boosted,) = detector.analyze("my ssn is 536-22-1234")
    assert boosted.score > bare.score


def test_one_reading_per_span() -> None:
    # A phone number by its shape, but an SSN by its context.
    assert detect("my social security number is 078-05-1120") == ["ssn"]


def _no_network(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("PII scoring tried to use the network")


def test_scoring_opens_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    assert OutputPii().score_batch([("mail me at someone@example.de",)]) == [["email"]]


_FRESH_PROCESS = """
from worker.metrics.pii import InputPii

scorer = InputPii()
scorer.warm_up()
print(scorer.score_batch([("write to jane.roe@mailbox.org",)]))
"""


def test_first_email_in_a_fresh_process_opens_no_socket() -> None:
    # tldextract's default extractor fetches the public-suffix list the first time it is used;
    # only a fresh process shows that this first use stays offline.
    assert run_fresh(_FRESH_PROCESS, timeout=120).strip() == "[['email']]"


def test_detector_is_built_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pii, "_detector", Lazy(pii.PiiDetector))
    built: list[pii.PiiDetector] = []
    start = threading.Barrier(8)

    def build() -> None:
        start.wait()
        built.append(get_detector())

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 8
    assert all(d is built[0] for d in built)


def test_input_and_output_scorers_share_one_detector() -> None:
    InputPii().warm_up()
    first = get_detector()
    OutputPii().warm_up()
    assert get_detector() is first


# --- Names, addresses, dates of birth, passwords, usernames ---------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hi, my name is Dana Whitfield and I need help with my order",
        "Please forward this to Jennifer Lopez by Monday",
        "Send the report to Dr. Okafor",
        "Her maiden name is Clark",
        "my name is dave",  # lower case, after an explicit cue
        "Name: Abby M. Laidlaw",
        "Thanks, Bob!",
        "I want to add Tiffany Morgan as a beneficiary to my account",
        "this is dave from accounting",  # lower case, after a cue
        "Cardholder: Ebony Marsh",  # a form field the NER alone misses
        "Thanks for the quick fix!\n\nPriya",  # a signature
    ],
)
def test_names(text: str) -> None:
    assert detect(text) == ["name"]


@pytest.mark.parametrize(
    "text",
    [
        "Summarize the attached report in three bullet points.",
        "Capitalized Words Like Wisdom And Discipline",
        "The Eiffel Tower is in Paris",
        "Python 3.12 was released by the Python Software Foundation",
        "Go to Settings > Privacy and toggle Location Services",
        "Can you explain how Kubernetes handles Pods?",
        "my name is not important",
        "Team — the Johnson & Johnson account review has moved to Friday",
        "what is the file name: report",
        "mon numéro: +33 1 42 68 53 00",  # French, lower case: the number only
    ],
)
def test_not_names(text: str) -> None:
    assert "name" not in detect(text)


@pytest.mark.parametrize(
    "text",
    [
        "I live at 221B Baker Street, London",
        "ship it to 1600 Amphitheatre Parkway, Mountain View, CA 94043",
        "my new address is Hauptstraße 5, 10115 Berlin",
        "send it to 42 elm st",
        "I'm in Apt. 4B on the third floor",
        "send mail to P.O. Box 123",
        "The bus station is on Villacher Strasse 89",
        "meet me at the corner of Dalbraut 99 and Main",
        "Lives at 15 Via Carlo Cattaneo 130, Burgos",
        "Springfield, IL 62704",
        "PSC 6293, Box 8158\nAPO AP 04336",
    ],
)
def test_addresses(text: str) -> None:
    assert detect(text) == ["address"]


@pytest.mark.parametrize(
    "text",
    [
        "meet me at 5 pm",
        "it is a 20 minute drive",
        "the meeting is on March 5",
        "I walked 3 miles along the road",
        "send it to 3 people on the team",
        "Windows 10 machines need the update",
        "my zip code is 94103",  # a postcode alone: see the eval's unmapped types
        "the test suite runs in 5 minutes",
    ],
)
def test_not_addresses(text: str) -> None:
    assert "address" not in detect(text)


@pytest.mark.parametrize(
    "text",
    [
        "I was born on 5/19/1937",
        "DOB: 1990-01-02",
        "my birthday is March 3rd, 1985",
        "Please tell me your date of birth. It's 6/24/1991",
        "1990-01-02 is my birthday",
        "geboren am 19.05.1937",
    ],
)
def test_dates_of_birth(text: str) -> None:
    assert detect(text) == ["date_of_birth"]


@pytest.mark.parametrize(
    "text",
    [
        "It's like that since 11/10/1967",
        "I was born in 1985",  # a year alone
        "the meeting is on 2024-01-15",
        "happy birthday! see you on friday",
    ],
)
def test_not_dates_of_birth(text: str) -> None:
    assert "date_of_birth" not in detect(text)


@pytest.mark.parametrize(
    "text",
    [
        "my password is hunter2",
        "password: Tr0ub4dor&3",
        "pwd=S3cret!",
        "my pin is 4821",
        'the wifi password is "sunshine"',  # quoted: a value, whatever it looks like
        "change my password to Blue-Horse-42",
        "Password: correcthorse",  # form-like ":" takes a plain word
    ],
)
def test_passwords(text: str) -> None:
    assert detect(text) == ["password"]


@pytest.mark.parametrize(
    "text",
    [
        "my password is wrong",
        "I forgot my password",
        "reset password please",
        "password is 8 characters",
        "my password is expired",
        "my pin is 4 digits",
        "what is my pin",
        "my password is sunshine",  # unquoted plain word after "is": missed on purpose
    ],
)
def test_not_passwords(text: str) -> None:
    assert "password" not in detect(text)


@pytest.mark.parametrize(
    "text",
    [
        "my username is jdoe_92",
        "login: alice.smith",
        "my instagram is @jane.doe",
        "follow me @jane_doe",
        "user id = mkowalski",
    ],
)
def test_usernames(text: str) -> None:
    assert detect(text) == ["username"]


@pytest.mark.parametrize(
    "text",
    [
        "my username is taken",
        "username is case sensitive",
        "login is not working",
        "thanks @team for the help",  # a mention, not someone's handle shared as PII
    ],
)
def test_not_usernames(text: str) -> None:
    assert "username" not in detect(text)


def test_login_that_is_an_email_is_an_email() -> None:
    assert detect("login: bob.smith@gmail.com") == ["email"]


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        # Local numbers without a country code, after a cue.
        ("Can someone call me on 9472 7916?", ["phone_number"]),
        ("They're not answering at 78 651 450", ["phone_number"]),
        # Card numbers outside Presidio's prefixes, Luhn-checked, after a cue.
        ("Need to change billing date of my card 2623322164608847", ["credit_card_info"]),
        ("my iban is gb82west12345698765432", ["account_info"]),
        ("my iban is gb82west12345698765433", []),  # bad checksum
        (
            "Hi, I'm Dana Whitfield, born on 1990-01-02; ship to 12 Main Street, "
            "my password is Tr0ub4dor&3 and my username is dwhit",
            ["address", "date_of_birth", "name", "password", "username"],
        ),
    ],
)
def test_mixed(text: str, labels: list[str]) -> None:
    assert detect(text) == labels


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        # A given name in the gazetteer after "ask": the scorer knows no products.
        ("Ask Siri to call mom", ["name"]),
        # Lower case with little context: the candidate scorer saw few lower-case names.
        ("michael is a very reliable colleague", []),
    ],
)
def test_known_name_limitations(text: str, labels: list[str]) -> None:
    assert detect(text) == labels


def test_every_label_can_be_reported() -> None:
    text = (
        "My name is Dana Whitfield, DOB 1990-01-02, I live at 12 Main Street. "
        "Email dana@fastmail.com, phone +1 415 555 2671, card 4111 1111 1111 1111, "
        "ssn 536-22-1234, IBAN DE89 3704 0044 0532 0130 00, server 192.168.1.10, "
        "password: Tr0ub4dor&3, username: dwhit"
    )
    assert detect(text) == list(PII_LABELS)


def test_spans_point_into_the_text() -> None:
    text = "Hi, I'm Dana Whitfield; DOB 1990-01-02; username: dwhit"
    found = {(s.label, text[s.start : s.end]) for s in get_detector().find(text)}
    assert ("date_of_birth", "1990-01-02") in found
    assert ("username", "dwhit") in found
    assert any(label == "name" and "Whitfield" in value for label, value in found)


def test_text_without_candidates_skips_the_ner() -> None:
    assert pii.name_windows("can you set a timer for ten minutes please") == []
    (window,) = pii.name_windows("Please ask John Smith to call back")
    assert "John" in "Please ask John Smith to call back"[window.start : window.end]


def test_detector_without_ner_still_finds_cued_names() -> None:
    detector = pii.PiiDetector(names=False)
    assert detector.detect("my name is dave") == ["name"]
    assert detector.detect("Please forward this to Jennifer Lopez") == []


def test_ner_vocabulary_does_not_grow() -> None:
    # Every new token string would stay in spaCy's string store without memory zones.
    detector = get_detector()
    recognizer = detector._names
    assert recognizer is not None
    strings = recognizer._nlp.vocab.strings
    # `candidates` runs the NER on every window (`find` skips windows it does not need).
    recognizer.candidates([f"Please ask Zorblax{i} Quimbly{i} to call" for i in range(20)])
    before = len(strings)
    recognizer.candidates([f"Please ask Frobnik{i} Waddle{i} to call" for i in range(200)])
    assert len(strings) == before


def test_batch_matches_single_calls() -> None:
    texts = [
        "Please forward this to Jennifer Lopez",
        "nothing here",
        "I live at 221B Baker Street",
        "",
        "Send the report to Dr. Okafor and call 212-555-0123",
    ]
    detector = get_detector()
    assert detector.detect_batch(texts) == [detector.detect(t) for t in texts]


def test_ner_reloads_when_its_index_has_grown(monkeypatch: pytest.MonkeyPatch) -> None:
    recognizer = pii.NameRecognizer()
    first = recognizer._nlp
    monkeypatch.setattr(pii, "NER_RELOAD_AFTER_LEXEMES", len(first.vocab) + 50)
    # `candidates` runs the NER on every window (`find` skips windows it does not need).
    recognizer.candidates([f"Please ask Zorblax{i} Quimbly{i} to call" for i in range(40)])
    assert recognizer.reloads == 1
    assert recognizer._nlp is not first
    (found,) = recognizer.find(["Please forward this to Jennifer Lopez"])
    assert [s.label for s in found] == ["name"]


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        (
            "DATABASE_URL=postgres://billing_svc:k9!Fq2zR#m4T@db.internal:5432/billing",
            ["password", "username"],
        ),
        (
            'curl -u "lmeyer:Herbst2023!" https://jira.internal/rest/api/2/issue',
            ["password", "username"],
        ),
        (
            'DATABASES = {"default": {"USER": "shop_admin", "PASSWORD": "Pl@nt41n-Sh0p"}}',
            ["password", "username"],
        ),
        ("[client]\nuser=backup_ops\npassword=Ty7-bQ!u9xZ", ["password", "username"]),
        (
            "sshd[22890]: Accepted publickey for dnguyen from 10.20.4.118 port 60022",
            ["network_info", "username"],
        ),
        ('File "/home/svetlana/projects/thesis/train.py", line 12', ["username"]),
        ("anyone know if u/throwaway_88213 is legit?", ["username"]),
        ("i think my ex knows my icloud pw (it was Brooklyn#0814)", ["password"]),
        ("WIFI:S:Okonjo-Guest;T:WPA;P:mango-tree-2468;;", ["password"]),
    ],
)
def test_credentials_in_configs_logs_and_chat(text: str, labels: list[str]) -> None:
    assert detect(text) == labels


@pytest.mark.parametrize(
    "text",
    [
        'ansible_become_pass: "{{ vault_become_pass }}"',
        "DB_PASSWORD=${POSTGRES_PASSWORD}",
        "export interface LoginForm {\n  username: string;\n  password: string;\n}",
        "passwd: password updated successfully",
        "mongodb+srv://<username>:<password>@cluster0.mno2x.mongodb.net/",
    ],
)
def test_credential_references_are_not_credentials(text: str) -> None:
    assert not {"password", "username"} & set(detect(text))


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Nom : Camille Rousseau\nNée le 11 février 1996 à Dakar", "date_of_birth"),
        ("Geburtsdatum: 07.08.2011", "date_of_birth"),
        ("Caller: August ninth, 1990.", "date_of_birth"),  # after "date of birth?" below
        ('name,dob,ssn\n"Okafor, Chinedu",1968-03-11,699-14-7493', "date_of_birth"),
        ("Adresse actuelle : 12 rue des Tanneurs, 69001 Lyon", "address"),
        ("doğru adres: Moda Cad. No:112 D:5, Kad\u0131köy 34710 İstanbul", "address"),
        ("Member account no.: 0038-5521-907", "account_info"),
        ("MC 2221 0038 4410 6727, exp 12/28", "credit_card_info"),
    ],
)
def test_forms_from_more_countries(text: str, label: str) -> None:
    if text.startswith("Caller:"):
        text = "Agent: And the date of birth on the account?\n" + text
    assert label in detect(text)


def test_name_scores_rank_evidence() -> None:
    """A given name and surname in a form field outranks the same words as a company name."""
    names = get_detector()._names
    assert names is not None
    [person] = names.candidates(["Cardholder: Ebony Marsh"])
    [company] = names.candidates(["We buy our paint from Ebony Marsh Ltd now."])
    score = names.model.probability
    assert max(score(c.features) for c in person) > max(score(c.features) for c in company)


# ---------------------------------------------------------------------------------------------
# Speed paths that must not change a decision: the NER skipped where its entities cannot move a
# candidate across the decision, libphonenumber run only on the stretches that can hold a phone.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written_texts() -> list[str]:
    """Our written PII examples (training-data/pii.jsonl), alone and joined into ~1,000-character
    texts with several name windows each."""
    texts = [row.text for row in training_rows("pii")]
    joined = ["\n\n".join(texts[k : k + 10]) for k in range(0, len(texts), 10)]
    return texts + joined


def test_ner_bounds_hold_the_entities_contribution(written_texts: list[str]) -> None:
    """What the entities add to a candidate's score lies within `NerBounds` of its text."""
    names = get_detector()._names
    assert names is not None
    checked = 0
    for text in written_texts[::3]:
        [full] = names.candidates([text])
        [prepared] = names._prepare([text], None)
        names._featurize(text, prepared, ())
        for with_ner, without in zip(full, prepared.candidates, strict=True):
            delta = names.model.logit(with_ner.features) - names.model.logit(without.features)
            low, high = names._bounds.of(with_ner.text)
            assert low - 1e-9 <= delta <= high + 1e-9, (with_ner.text, delta, low, high)
            checked += delta != 0
    assert checked > 50  # the NER did change many scores: the check was not vacuous


def test_lazy_ner_decides_as_the_full_ner(written_texts: list[str]) -> None:
    """`find` (NER only where needed) keeps exactly the candidates that scoring every candidate
    with all NER features keeps, and a text has a name exactly when one of those is a name."""
    names = get_detector()._names
    assert names is not None
    score = names.model.probability
    ran: list[int] = []
    entities = names._entities

    def counting(texts: Any, jobs: Any) -> Any:  # counts the windows the NER runs on
        ran.append(len(jobs))
        return entities(texts, jobs)

    full = names.candidates(written_texts)
    every_window = sum(len(item.windows) for item in names._prepare(written_texts, None))
    names._entities = counting  # type: ignore[method-assign]
    try:
        lazy = names.find(written_texts)
        any_name = names.find(written_texts, every_name=False)
    finally:
        del names._entities
    for text, candidates, found, first in zip(written_texts, full, lazy, any_name, strict=True):
        expected = {(c.start, c.end) for c in candidates if score(c.features) >= NAME_DECISION}
        assert {(s.start, s.end) for s in found} == expected, text
        assert bool(first) == bool(expected), text
    assert sum(map(bool, lazy)) > 100
    # Most windows are not needed; the share is a property of the bounds, not of timing.
    assert ran[0] < every_window / 2
    assert ran[1] <= ran[0]


def test_batched_detection_matches_one_by_one_on_real_texts(written_texts: list[str]) -> None:
    detector = get_detector()
    texts = written_texts[::7]
    assert detector.detect_batch(texts) == [detector.detect(t) for t in texts]


def _pattern_characters() -> list[str]:
    """Every character libphonenumber's matcher pattern names, as literal or in a class/range."""
    parsed = re._parser.parse(  # type: ignore[attr-defined]
        phonenumbermatcher._PATTERN.pattern, phonenumbermatcher._PATTERN.flags
    )
    chars: list[str] = []

    def walk(items: Any) -> None:
        for op, value in items:
            name = str(op)
            if name == "LITERAL":
                chars.append(chr(value))
            elif name == "RANGE":
                chars.extend(chr(c) for c in range(value[0], value[1] + 1))
            elif name == "CATEGORY":
                assert str(value) == "CATEGORY_DIGIT", value
                chars.extend(["0", "9", "\u0663", "\uff15"])  # Latin, Arabic-Indic, fullwidth
            elif name == "IN":
                walk(value)
            elif name in ("MAX_REPEAT", "MIN_REPEAT"):
                walk(value[2])
            elif name == "SUBPATTERN":
                walk(value[3])
            elif name == "BRANCH":
                for branch in value[1]:
                    walk(branch)
            else:
                raise AssertionError(f"unexpected {name} in the phone pattern")

    walk(parsed)
    return chars


# The letter words libphonenumber's pattern can match: "x" separators and extension words.
_PHONE_PATTERN_WORDS = (
    "x",
    "xx",
    "xxxx",
    "ext",
    "xt",
    "extn",
    "xtn",
    "extensin",
    "xtensin",
    "anexo",
    "int",
    "EXT",
    "Ext.",
    "Anexo",
    "INT",
    "extensi\u00f3n",
    "extensio\u0301n",
    "xtensi\u00f3n",
    "xtensio\u0301n",
    "\uff45\uff58\uff54",
    "\uff58\uff54\uff4e",
    "\uff58",
    "\u0434\u043e\u0431",
    "\uff49\uff4e\uff54",
    "\u30fcx",
    "x\u30fc",
)


def test_phone_segments_hold_every_character_the_matcher_can_match() -> None:
    chars = _pattern_characters()
    assert len(chars) > 50
    # The katakana length mark is a letter to Unicode and punctuation to the pattern.
    letters = {c for c in chars if c.isalpha() and c != "\u30fc"}
    # Every letter of the pattern is in one of the words below (a new word would fail here).
    assert letters <= set("".join(_PHONE_PATTERN_WORDS).lower())
    missing = [c for c in chars if c not in letters and not pii._PHONE_SEGMENT.fullmatch(c)]
    assert missing == []
    for word in _PHONE_PATTERN_WORDS:
        assert pii._PHONE_SEGMENT.fullmatch(f"555 1234 {word} 12"), word
    # Other letter runs end a segment: "next" is not "ext", "mint" not "int", and the pattern
    # has "extensión" but not "extension".
    assert pii._PHONE_SEGMENT.findall("555 next 12 mint 3") == [
        "555 ",
        " 12 ",
        " 3",
    ]


def test_phone_recognizer_on_segments_finds_what_it_finds_on_the_whole_text(
    written_texts: list[str],
) -> None:
    recognizer = pii._PhoneRecognizer()
    extra = [
        "call me at +1 (415) 555-2671 ext. 12 tomorrow, or 030 1234567 after 18:30",
        "Tel.: 0049 30 1234567\nFax: 0049 30 7654321; mobile 07700 900123",
        "order 123456789 shipped 2024-05-01, ref 4411-2231-99; rooms 12, 14 and 15",
        "Büro: +49 30 1234567 Durchwahl 12, oder 030 1234567 extensión 5, Mobil 0151 2345678x3",
        "reach me at 212 555 0147 int 4, anexo 3: 011 2345 6789, доб. 12: +7 495 123 45 67",
        "2024-05-01 10:22:31 src=10.60.1.88 dst=10.60.1.99 uid=10023456 pid=4451 tel=4155552671",
    ]
    found = 0
    for text in written_texts + extra:
        whole = (
            [
                r
                for r in PhoneRecognizer.analyze(recognizer, text, ["PHONE_NUMBER"])
                if pii._count_digits(text[r.start : r.end]) >= pii.MIN_PHONE_DIGITS
            ]
            if pii._count_digits(text) >= pii.MIN_PHONE_DIGITS
            else []
        )
        segments = recognizer.analyze(text, ["PHONE_NUMBER"])
        assert sorted((r.start, r.end, r.score) for r in segments) == sorted(
            (r.start, r.end, r.score) for r in whole
        ), text
        found += len(whole)
    assert found > 20


def test_ner_has_its_own_token_encoder() -> None:
    """The NER runs without the `tok2vec` component (excluded for speed): it must not listen to
    it, or it would read no token vectors."""
    package = importlib.import_module(pii._NER_PACKAGE)
    nlp = package.load(exclude=["tagger", "parser", "attribute_ruler", "senter", "lemmatizer"])
    assert nlp.get_pipe("tok2vec").listener_map == {}
    encoder = nlp.config["components"]["ner"]["model"]["tok2vec"]["@architectures"]
    assert "Listener" not in encoder
    names = get_detector()._names
    assert names is not None
    assert names._nlp.pipe_names == ["ner"]
    text = "Please ask Dana Whitfield at Acme Corp in Berlin to call back on Monday"
    expected = [(e.start_char, e.end_char, e.label_) for e in nlp(text).ents]
    [found] = names._entities([text], [(0, pii.NameWindow(0, len(text), ()))])
    assert found == expected
    assert "PERSON" in {label for _, _, label in found}
    assert len(found) >= 3
