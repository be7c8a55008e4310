"""A realistic mix of chat prompts and model answers for the demo (and the stream tests)."""

from __future__ import annotations

from typing import Any

CLEAN_PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about autumn leaves falling on a quiet lake.",
    "Summarise the attached article about interest rates in three bullet points.",
    "How do I reverse a list in Python without modifying the original?",
    "Can you suggest a vegetarian dinner for four people under 30 minutes?",
    "Explain the difference between TCP and UDP like I'm five.",
    "What are good questions to ask at the end of a job interview?",
    "Draft a polite reminder to a colleague about the quarterly report.",
]
PII_PROMPTS = [
    "my ssn is 123-45-6789, can you fill in the tax form?",
    "Email me at jane.doe@example.com when the report is ready.",
    "Call me on +1 415 555 2671 tomorrow morning please.",
    "My card number is 4111 1111 1111 1111, expiry 12/29, is it still valid?",
    "Transfer it to IBAN DE89 3704 0044 0532 0130 00 by Friday.",
]
FOREIGN_PROMPTS = [
    "¿Cuál es la mejor manera de aprender a programar en Python?",
    "Quelle est la différence entre un crocodile et un alligator ?",
    "Wie spät ist es gerade in Tokio?",
    "Qual è il modo migliore per cucinare la pasta al dente?",
]
ANSWERS = [
    ("What is the capital of France?", "Paris is the capital of France."),
    ("Who handles refunds?", "Sure, the customer's email is bob.smith@example.org."),
    ("Where are the logs?", "See ticket OPS-1234 on build7.corp.internal for the logs."),
    ("Who else sells this?", "Acme Corp sells a similar product, but ours ships faster."),
    ("Write a haiku.", "Leaves drift on still water, the lake keeps the autumn sky."),
    ("How do I reset my password?", "Open Settings, choose Security, then Reset password."),
]
PROMPTS = CLEAN_PROMPTS + PII_PROMPTS + FOREIGN_PROMPTS


def prompt_event(i: int) -> dict[str, Any]:
    """A prompt event (the user's query): `payload.input` only."""
    return {"payload": {"input": PROMPTS[i % len(PROMPTS)]}, "metadata": {"seq": str(i)}}


def response_event(i: int) -> dict[str, Any]:
    """A response event (the application's answer): `payload.input` + `payload.output`."""
    question, answer = ANSWERS[i % len(ANSWERS)]
    return {"payload": {"input": question, "output": answer}, "metadata": {"seq": str(i)}}
