"""Redaction: the token and its common encodings, redacted before anything is clipped."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from scoot.records.audit import Redactor
from scoot.shared.redaction import MARK, redact, secret_forms
from scoot.testing.model_server import ScriptedModel
from tests.helpers import run_scoot, write_config

TOKEN = "sk-test-SECRET-0123456789abcdef"

tokens = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=12, max_size=60)
filler = st.binary(max_size=7)


def encodings(token: str, before: bytes, after: bytes) -> list[str]:
    data = before + token.encode() + after
    return [
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode(),
        base64.b64encode(data).decode().rstrip("="),
        binascii.hexlify(data).decode(),
        binascii.hexlify(data).decode().upper(),
    ]


def recoverable(token: str, text: str) -> bool:
    """Whether `text` still carries the token, plainly or in one of the encodings."""
    if token in text or quote(token, safe="") in text:
        return True
    for word in text.replace(MARK, " ").split():
        for decode in (base64.b64decode, base64.urlsafe_b64decode, bytes.fromhex):
            try:
                padded = word + "=" * (-len(word) % 4) if decode is not bytes.fromhex else word
                if token.encode() in decode(padded):
                    return True
            except (ValueError, binascii.Error):
                pass
    return False


@settings(max_examples=300, deadline=None)
@given(token=tokens, before=filler, after=filler)
def test_every_encoding_at_every_alignment_is_redacted(
    token: str, before: bytes, after: bytes
) -> None:
    forms = secret_forms(token)
    for encoded in encodings(token, before, after):
        text = f"output: {encoded} end"
        cleaned = redact(text, forms)
        assert MARK in cleaned, (token, encoded)
        assert not recoverable(token, cleaned), cleaned


def test_ordinary_text_is_left_alone() -> None:
    text = "disk /dev/sda1 at 91%: 0123456789abcdef sk-test is fine; base64 c2stdGVzdA== ok"
    assert Redactor([TOKEN]).text(text) == text


def test_url_encoded_and_hex_forms() -> None:
    secret = "a b/c+d=e&f?g"
    redactor = Redactor([secret])
    assert redactor.text(quote(secret, safe="")) == MARK
    assert redactor.text(secret.encode().hex().upper()) == MARK
    assert redactor.text(f"x{secret}y") == f"x{MARK}y"


def test_a_token_at_the_clip_edge_never_lands_in_a_record(tmp_path: Path) -> None:
    """Thought, observation and answer each put the token right where they are clipped."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    b64 = base64.b64encode(b"xy" + TOKEN.encode()).decode()
    hexed = TOKEN.encode().hex()
    script = {
        "require_token": TOKEN,
        "default": [
            {
                "thought": "t" * 1980 + TOKEN,  # the audit keeps 2000 characters
                "action": "bash",
                "action_input": json.dumps(
                    {"command": f"printf '%s\\n' {b64} {hexed}; echo {TOKEN}"}
                ),
            },
            {
                # runs.jsonl keeps the first and last 2000 of 4000 characters.
                "final": "a" * 1985 + TOKEN + " and " + quote(TOKEN, safe="") + "b" * 3000
            },
        ],
    }
    with ScriptedModel(script) as model:
        write_config(home, base_url=model.base_url, schedule={"enabled": False})
        done = run_scoot(home, "-e", "leak it", cwd=work, OPENAI_API_KEY=TOKEN)
    assert done.returncode == 0, done.stderr
    seen = [done.stdout, done.stderr]
    seen += [p.read_text("utf-8", "replace") for p in home.rglob("*") if p.is_file()]
    assert any(MARK in text for text in seen)
    for text in seen:
        assert not recoverable(TOKEN, text)
        # No long piece of it either: a clip must not leave the token minus a character.
        for start in range(len(TOKEN) - 12):
            assert TOKEN[start : start + 12] not in text
