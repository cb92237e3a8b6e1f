"""Issue 19, item 8: every encoding of a secret is scrubbed, and nothing confirms a guess.

The table checks each form a secret travels in against a fresh ``Redactor``. The two
end-to-end tests run ``publisher run --once`` as a process against local X servers that refuse
every post with an error quoting the request back (``tests/networks/x/echo.py``), with a
webhook and a notify command listening, then read every place a human or a machine can see:
the log, the SQLite file's bytes, ``status``, ``history``, the webhook, the command's input.
The second one does it twice, for an editor who guessed a secret right and one who guessed
wrong, and finds the outputs the same.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import difflib
import hashlib
import html
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web
from oauthlib.oauth1 import Client as OAuth1Client
from oauthlib.oauth1.rfc5849.utils import escape as oauth_escape

from publisher.secrets import Redactor
from publisher.testing.leaks import leaks
from publisher.testing.servers import LocalServer
from tests.conftest import Project
from tests.networks.x.echo import ECHOES, EchoingX
from tests.processes import run_publisher
from tests.test_cli import cli

FIXTURES = Path(__file__).parent / "fixtures"
MASK = "***"

# Two secrets with what makes encodings differ: base64 punctuation, and a password with
# non-ASCII letters, a quote, a space and a slash.
TOKEN = "Zk9v/YmFy+cXV4=LzE2-LWJ5dGVz_0042"
PASSWORD = 'pässwörd/Ωmega "quoted" 2026'


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _oauth_header(key: str) -> str:
    client = OAuth1Client(key, client_secret="cs", resource_owner_key=key,
                          resource_owner_secret="ts", timestamp="1764579600", nonce="n0nce")
    _uri, headers, _body = client.sign("https://api.x.com/2/tweets", "POST")
    return str(headers["Authorization"])


# (form, how a secret is written in it). Every form leaves out the value as written.
FORMS: dict[str, Callable[[str], str]] = {
    "percent-encoded, nothing safe": lambda v: quote(v, safe=""),
    "percent-encoded, / kept": lambda v: quote(v),
    "form-encoded (quote_plus)": quote_plus,
    "percent-encoded, lower-case hex": lambda v: re.sub(
        "%[0-9A-F]{2}", lambda m: m.group().lower(), quote(v, safe="")
    ),
    "percent-encoded twice": lambda v: quote(quote(v, safe=""), safe=""),
    "RFC 3986 as oauthlib escapes": oauth_escape,
    "OAuth 1.0a header oauthlib signs": _oauth_header,
    "JSON string, ASCII only": lambda v: json.dumps(v)[1:-1],
    "JSON string, slashes escaped": lambda v: json.dumps(v, ensure_ascii=False)[1:-1].replace(
        "/", "\\/"
    ),
    "HTML-escaped": html.escape,
    "base64": lambda v: _b64(v.encode()),
    "base64, no padding": lambda v: _b64(v.encode()).rstrip("="),
    "base64url": lambda v: _b64url(v.encode()),
    "base64url, no padding": lambda v: _b64url(v.encode()).rstrip("="),
    "Basic header, user of 3 bytes": lambda v: "Basic " + _b64(f"bob:{v}".encode()),
    "Basic header, user of 4 bytes": lambda v: "Basic " + _b64(f"user:{v}".encode()),
    "Basic header, user of 5 bytes": lambda v: "Basic " + _b64(f"brand:{v}".encode()),
    "JWT payload": lambda v: "eyJhbGciOiJIUzI1NiJ9."
    + _b64url(json.dumps({"sub": "1", "tok": v}).encode()).rstrip("=")
    + ".c2lnbmF0dXJl",
    "bearer header inside a base64 JSON blob": lambda v: _b64(
        json.dumps({"headers": {"Authorization": f"Bearer {v}"}}).encode()
    ),
    "Basic header percent-encoded in a URL": lambda v: "https://h.example/?a="
    + quote("Basic " + _b64(f"user:{v}".encode()), safe=""),
    "hex": lambda v: v.encode().hex(),
    "hex, upper case": lambda v: v.encode().hex().upper(),
}

ROWS = [
    pytest.param(name, secret, id=f"{name} [{label}]")
    for name, encode in FORMS.items()
    for label, secret in (("token", TOKEN), ("password", PASSWORD))
    if secret not in encode(secret)  # the literal would be scrubbed anyway: not a new form
]


@pytest.mark.parametrize(("form", "secret"), ROWS)
def test_item8_every_encoding_of_a_secret_is_scrubbed(form: str, secret: str) -> None:
    redactor = Redactor()
    redactor.add(secret)
    encoded = FORMS[form](secret)
    text = f"before {encoded} after"
    out = redactor.scrub(text)
    assert MASK in out, out
    assert out.startswith("before ") and out.endswith(" after"), out
    assert leaks(out, secret) == [], out


def test_redactor_leaves_ordinary_text_alone() -> None:
    redactor = Redactor()
    for secret in (TOKEN, PASSWORD):
        redactor.add(secret)
    text = (
        "X refused the post (403): You are not allowed to create a Tweet with duplicate "
        'content. {"detail": "x", "type": "about:blank"} https://example.com/soldes?a=1&b=%2F '
        f"{_b64(os.urandom(300))} {hashlib.sha256(b'x').hexdigest()} passwords quoted 2026 "
        "Zk9v YmFy pässwörd Ωmega"
    )
    assert redactor.scrub(text) == text


def test_values_too_short_to_scrub_are_not_registered() -> None:
    redactor = Redactor()
    redactor.add("hunter2")  # 7 characters: "hunter2" in a text is as likely a word
    assert redactor.scrub("hunter2 aGVudGVyMg==") == "hunter2 aGVudGVyMg=="


# (what the editor wrote around a guess, what the network answers given that text)
ECHO_CASES: dict[str, tuple[Callable[[str], str], Callable[[str], str]]] = {
    "the post quoted back, beside the header": (
        lambda g: f"Soldes ! code {g} et {_b64(g.encode())}",
        lambda t: f'HTTP 400: {{"text": {json.dumps(t)}}} auth=Bearer {quote(TOKEN, safe="")} x',
    ),
    "a guess and one character, quoted back": (
        lambda g: f"{g}!",
        lambda t: f"refused: {t}",
    ),
    "the post quoted back JSON-escaped": (
        lambda g: f'Soldes "{g}" é',
        lambda t: json.dumps({"text": t}),
    ),
    "the post quoted back in a URL": (
        lambda g: f"Soldes {g} !",
        lambda t: f"see https://x.example/?text={quote(t, safe='')}",
    ),
}


def _scrubbed_for_both_guesses(
    write: Callable[[str], str], answer: Callable[[str], str]
) -> list[str]:
    """The network's ``answer`` to a post the editor ``write``s around a guess, scrubbed as
    the daemon scrubs it, for a right guess and a wrong one."""
    try:
        from publisher.redact import PostScope, enter_post
    except ImportError:  # before item 8: scrubbed as any outside text
        PostScope = enter_post = None  # type: ignore[assignment,misc]

    redactor = Redactor()
    redactor.add(TOKEN)
    outs = []
    for guess in (TOKEN, _wrong(TOKEN)):
        text = write(guess)

        def scrub(text: str = text) -> str:
            if PostScope is not None:  # as the daemon does for a delivery
                enter_post(PostScope(["launch"], lambda: [text]))
            return redactor.scrub(answer(text))

        outs.append(contextvars.copy_context().run(scrub))
    return outs


@pytest.mark.parametrize("case", ECHO_CASES)
def test_item8_a_network_quoting_the_post_back_confirms_no_guess(case: str) -> None:
    """Outside text about a post: its quote of the post is masked like a secret, a secret next
    to it merges into the same mark: a right guess and a wrong one come out the same."""
    outs = _scrubbed_for_both_guesses(*ECHO_CASES[case])
    assert outs[0] == outs[1], outs
    assert MASK in outs[0] and leaks(outs[0], TOKEN) == [], outs[0]


def test_a_networks_copy_of_a_secret_is_masked_alike_whatever_the_post_says() -> None:
    """The editor wrote what the network writes beside its copy of the token (``Bearer`` and
    ``!``): with a right guess those characters match the post too, yet the mark stays the
    token's own, as for a wrong guess."""
    outs = _scrubbed_for_both_guesses(
        lambda g: f"Soldes ! Bearer {g}!", lambda t: f"auth=Bearer {TOKEN}!"
    )
    assert outs == ["auth=Bearer ***!", "auth=Bearer ***!"], outs


async def test_dry_run_payloads_carry_no_credential(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dry-run`` prints payloads unscrubbed (scrubbing would be an oracle): they must never
    carry a credential, on any network."""
    secrets = {f"S{i}": f"{TOKEN}-{i}" for i in range(8)}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "pixel.png").write_bytes((FIXTURES / "pixel.png").read_bytes())
    project.accounts = {
        "bird": {"network": "x", "api_key": "${S0}", "api_secret": "${S1}",
                 "access_token": "${S2}", "access_secret": "${S3}"},
        "page": {"network": "facebook", "page_id": "42", "page_token": "${S4}"},
        "masto": {"network": "mastodon", "instance": "https://m.example", "token": "${S5}"},
        "sky": {"network": "bluesky", "pds": "https://p.example", "handle": "b.test",
                "app_password": "${S6}"},
        "pro": {"network": "linkedin", "author": "urn:li:organization:1", "token": "${S7}"},
        "team-log": {"network": "log"},
    }
    project.write_config()
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="minutes")
    project.write_queue(f"""\
        posts:
          - id: launch
            at: {at}
            accounts: [bird, page, masto, sky, pro, team-log]
            text: Les soldes ! https://example.com/soldes #soldes
            media:
              - file: pixel.png
                alt: Un pixel
            options: {{visibility: unlisted, spoiler_text: soldes}}
        """)

    code, out, err = await cli("dry-run", "--json", "--config", str(project.config_path))
    assert code == 0, err
    assert len(json.loads(out)["deliveries"]) == 6
    assert leaks(out + err, *secrets.values()) == []


# ---------------------------------------------------------------------------------------
# End to end: a daemon, echoing servers, and every sink.


@dataclass
class Sinks:
    """A webhook on 127.0.0.1 and the file a notify command appends its input to."""

    root: Path
    hooks: list[str] = field(default_factory=list)
    url: str = ""
    _server: LocalServer | None = None

    @property
    def command_log(self) -> Path:
        return self.root / "notified.jsonl"

    def notify_config(self) -> str:
        script = self.root / "notify.py"
        script.write_text(
            "import sys\n"
            f"with open({str(self.command_log)!r}, 'a', encoding='utf-8') as f:\n"
            "    f.write(sys.stdin.read() + '\\n')\n"
        )
        return (
            f"\n[notify]\ncommand = [{json.dumps(sys.executable)}, {json.dumps(str(script))}]\n"
            f'url = "{self.url}/hook"\n'
        )

    async def _hook(self, request: web.Request) -> web.Response:
        self.hooks.append(await request.text())
        return web.Response(status=204)

    async def __aenter__(self) -> Sinks:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._server = LocalServer(app)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()

    def notified(self) -> str:
        return self.command_log.read_text(encoding="utf-8") if self.command_log.exists() else ""


@pytest.fixture
async def sinks(tmp_path: Path) -> AsyncIterator[Sinks]:
    async with Sinks(tmp_path) as s:
        yield s


async def run_once(project: Project, env: dict[str, str], *args: str) -> tuple[int, str]:
    """``publisher run --once`` as a process, as systemd runs it; its log is its stderr."""

    def call() -> tuple[int, str]:
        r = run_publisher(
            "run", "--once", "--config", str(project.config_path), *args,
            env={**os.environ, **env},
        )
        return r.returncode, r.stdout + r.stderr

    return await asyncio.to_thread(call)


def database_bytes(project: Project) -> str:
    """The SQLite file and its WAL, as bytes any reader of the disk gets."""
    files = sorted(project.root.glob("queue.db*"))
    assert files
    return b"".join(f.read_bytes() for f in files).decode("latin-1")


async def views(project: Project) -> dict[str, str]:
    """What ``status`` and ``history`` show, as text and as JSON."""
    out = {}
    for name, args in {
        "status": ("status",),
        "status --json": ("status", "--json"),
        "history": ("history",),
        "history --json": ("history", "--json"),
    }.items():
        code, stdout, stderr = await cli(*args, "--config", str(project.config_path))
        assert code == 0, stderr
        out[name] = stdout
        out[f"{name}, stderr"] = stderr
    return out


# The X accounts' credentials, with characters that percent-encoding and JSON change.
X1 = {
    "X1_KEY": "q7Vx/Lk2+Wm9=Rz4Tn",
    "X1_SECRET": "Hd8s/Pq3+Zj6=Mc1Vb",
    "X1_TOKEN": "1234567890-Ue5r/Yk8+Gf2=Na7Qw",
    "X1_TOKEN_SECRET": "Bx4t/Jw9+Ks5=Lp8Ea",
}
X2_TOKEN = "Rm3g/Xc6+Dv1=Ty9Oh"
X3_TOKEN = "Wf2n/Ib7+Cu4=Sq6Kz"


def _queue(accounts: dict[str, int], at: str) -> str:
    posts = [
        f"  - id: {account}-{i}\n    at: {at}\n    accounts: [{account}]\n"
        f"    text: Soldes d'hiver, épisode {i} #soldes\n"
        for account, n in accounts.items()
        for i in range(n)
    ]
    return "posts:\n" + "".join(posts)


async def test_item8_echoed_credentials_reach_no_log_table_status_history_or_webhook(
    project: Project, sinks: Sinks
) -> None:
    echo1 = EchoingX(consumer_key=X1["X1_KEY"], consumer_secret=X1["X1_SECRET"],
                     access_token=X1["X1_TOKEN"], access_secret=X1["X1_TOKEN_SECRET"])
    echo2 = EchoingX(bearer_token=X2_TOKEN)
    echo3 = EchoingX(bearer_token=X3_TOKEN, status=401)
    async with echo1, echo2, echo3:
        project.extra = sinks.notify_config()
        project.accounts = {
            "bird1": {"network": "x", "api_base": echo1.url, "api_key": "${X1_KEY}",
                      "api_secret": "${X1_SECRET}", "access_token": "${X1_TOKEN}",
                      "access_secret": "${X1_TOKEN_SECRET}"},
            "bird2": {"network": "x", "api_base": echo2.url, "oauth2_token": "${X2_TOKEN}"},
            "bird3": {"network": "x", "api_base": echo3.url, "oauth2_token": "${X3_TOKEN}"},
        }
        project.write_config()
        at = (datetime.now(UTC) - timedelta(minutes=2)).isoformat(timespec="minutes")
        n = len(ECHOES)
        project.write_queue(_queue({"bird1": n, "bird2": n, "bird3": 2}, at))
        env = {**X1, "X2_TOKEN": X2_TOKEN, "X3_TOKEN": X3_TOKEN}
        code, log = await run_once(project, env)
        assert code == 0, log
        shown = await views(project)
    # The servers did quote every credential back, in every form.
    # (bird3's two posts may both leave before its 401 holds the account: per_account = 2.)
    assert len(echo1.echoed) == n and len(echo2.echoed) == n and len(echo3.echoed) >= 1
    secrets = [*X1.values(), X2_TOKEN, X3_TOKEN]
    assert leaks("\n".join(echo1.echoed + echo2.echoed), *secrets)  # what there was to hide
    seen = {
        "the daemon's log": log,
        "the SQLite file": database_bytes(project),
        **shown,
        "the webhook": "\n".join(sinks.hooks),
        "the notify command": sinks.notified(),
    }
    for where, text in seen.items():
        found = leaks(text, *secrets)
        lines = [line for line in text.splitlines() if any(f in line for f in found)]
        assert found == [], f"{where}: {found}\n" + "\n".join(lines)
    # And every answer did reach every sink, masked.
    history = json.loads(shown["history --json"])["attempts"]
    assert len(history) == 2 * n + len(echo3.echoed), history
    assert all(MASK in a["error"] for a in history), history
    assert any("needs attention" in (a["reason"] or "") for a in
               json.loads(shown["status --json"])["accounts"]), shown["status --json"]
    assert len(sinks.hooks) >= 2 * n and sinks.notified().count("\n") >= 2 * n


# ---------------------------------------------------------------------------------------
# No oracle: an editor who guesses a secret right sees what one who guesses wrong sees.

# The bearer token the X server echoes, and a Mastodon token shaped like a post id.
GUESSED = "xb2/Guess+Me=token-0007"
MASTO = "masto-Tok3n.for_Guessing-42"


def _wrong(secret: str) -> str:
    """A wrong guess of the same shape: letters and digits moved on by one."""
    def shift(c: str) -> str:
        if c.isdigit():
            return str((int(c) + 1) % 10)
        if c.isascii() and c.isalpha():
            base = ord("a") if c.islower() else ord("A")
            return chr(base + (ord(c) - base + 1) % 26)
        return c

    return "".join(shift(c) for c in secret)


def _encodings(guess: str) -> dict[str, str]:
    """The forms the editor writes the guess in, each with the placeholder it is compared as."""
    return {
        _b64(guess.encode()): "<GUESS:base64>",
        _b64(f"user:{guess}".encode()): "<GUESS:basic>",
        quote(guess, safe=""): "<GUESS:pct>",
        guess.encode().hex(): "<GUESS:hex>",
        guess: "<GUESS>",
    }


QUEUE_WITH_GUESSES = """\
posts:
  - id: launch-{masto}
    at: {now}
    accounts: [team-log, bird]
    text: |
      Soldes ! {g} / {g64} / {pct}
      {basic} {hex}
    parts:
      - "Suite : {g} {g64}"
    media:
      - file: pixel.png
        alt: "Vitrine {g}"
    link:
      url: "https://example.com/soldes?code={pct}"
      title: "Soldes {g}"
      description: "{g64}"
  - id: later
    at: {later}
    accounts: [masto]
    text: "Plus tard : {g}"
    options:
      spoiler_text: "{g} {g64}"
"""


WINDOW = ("--from", "2000-01-01 00:00", "--until", "2100-01-01 00:00")


def _normalize(text: str, project: Project, guesses: dict[str, str]) -> str:
    for value, placeholder in guesses.items():
        text = text.replace(value, placeholder)
    text = text.replace(str(project.root), "<root>")
    text = re.sub(r"publisher-[0-9a-f]{32}", "<idempotency key>", text)  # a hash of the id
    text = re.sub(
        r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?( ?[A-Z]{3,4}\b|Z|[+-]\d{2}:\d{2})?)?",
        "<time>",
        text,
    )
    text = re.sub(r"\b\d{2}:\d{2}(:\d{2})?\b", "<hh:mm>", text)  # the two runs straddle a minute
    return "\n".join(sorted(text.splitlines()))  # concurrent deliveries log in either order


async def _editor_sees(
    root: Path, guess: str, masto_guess: str, echo: EchoingX, sinks: Sinks
) -> tuple[dict[str, str], Project]:
    root.mkdir()
    project = Project(root, f"sqlite:///{root / 'queue.db'}")
    (root / "pixel.png").write_bytes((FIXTURES / "pixel.png").read_bytes())
    project.extra = sinks.notify_config()
    project.accounts = {
        "team-log": {"network": "log"},
        "bird": {"network": "x", "api_base": echo.url, "oauth2_token": "${GUESSED}"},
        "masto": {"network": "mastodon", "instance": echo.url, "token": "${MASTO}"},
    }
    project.write_config()
    now = datetime.now(UTC)
    forms = {v: k for k, v in _encodings(guess).items()}
    project.write_queue(QUEUE_WITH_GUESSES.format(
        masto=masto_guess,
        now=(now - timedelta(minutes=2)).isoformat(timespec="minutes"),
        later=(now + timedelta(days=1)).isoformat(timespec="minutes"),
        g=guess, g64=forms["<GUESS:base64>"], pct=forms["<GUESS:pct>"],
        basic=forms["<GUESS:basic>"], hex=forms["<GUESS:hex>"],
    ))
    config = ("--config", str(project.config_path))
    seen: dict[str, str] = {}
    for name, args in {
        "validate": ("validate",),
        "dry-run": ("dry-run", *WINDOW),
        "dry-run --json": ("dry-run", "--json", *WINDOW),
    }.items():
        code, out, err = await cli(*args, *config)
        assert code == 0, err
        seen[name] = out + err
    code, seen["the daemon's log"] = await run_once(
        project, {"GUESSED": GUESSED, "MASTO": MASTO}
    )
    assert code == 0, seen["the daemon's log"]
    seen.update(await views(project))
    seen["the webhook"] = "\n".join(sinks.hooks)
    seen["the notify command"] = sinks.notified()
    return seen, project


async def test_item8_a_right_guess_and_a_wrong_one_look_the_same_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The commands run in this process see the secrets too, as on the server.
    monkeypatch.setenv("GUESSED", GUESSED)
    monkeypatch.setenv("MASTO", MASTO)
    normalized: dict[str, dict[str, str]] = {}
    raw: dict[str, dict[str, str]] = {}
    for label, guess, masto_guess in (
        ("right", GUESSED, MASTO),
        ("wrong", _wrong(GUESSED), _wrong(MASTO)),
    ):
        (tmp_path / f"{label}-sinks").mkdir()
        async with EchoingX(bearer_token=GUESSED, echo_text=True) as echo, Sinks(
            tmp_path / f"{label}-sinks"
        ) as sinks:
            seen, project = await _editor_sees(tmp_path / label, guess, masto_guess, echo, sinks)
        assert echo.echoed and guess in echo.echoed[0]  # the network did quote the text back
        guesses = {**_encodings(guess), masto_guess: "<ID-GUESS>"}
        normalized[label] = {k: _normalize(v, project, guesses) for k, v in seen.items()}
        raw[label] = seen
    differ = {
        where: "\n".join(difflib.unified_diff(
            text.splitlines(), normalized["wrong"][where].splitlines(), "right", "wrong", n=0
        ))
        for where, text in normalized["right"].items()
        if text != normalized["wrong"][where]
    }
    assert not differ, "a right guess shows differently from a wrong one:\n" + "\n".join(
        f"{where}:\n{diff}" for where, diff in differ.items()
    )
    right = raw["right"]
    # Nothing masked what the editor wrote: their text where it is shown back to them, the
    # post's id everywhere (only the network's answer is masked, right guess or wrong)...
    assert MASK not in right["validate"], right["validate"]
    for where in ("dry-run", "dry-run --json"):
        assert MASK not in right[where] and GUESSED in right[where], f"{where}: {right[where]}"
    for where in ("status", "status --json", "history", "history --json"):
        assert f"launch-{MASTO}" in right[where], f"{where}: {right[where]}"
    # ...and the log shows the post's id and its text as written (the text is what the log
    # network publishes: scrubbing it would be the oracle).
    assert f"launch-{MASTO}" in right["the daemon's log"]
    doc = json.loads(right["dry-run --json"])
    mirrored = next(d for d in doc["deliveries"] if d["account"] == "team-log")
    text = mirrored["parts"][0]["text"]
    assert GUESSED in text
    assert json.dumps(text, ensure_ascii=False) in right["the daemon's log"]


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_item8_a_guess_quoted_by_a_diagnostic_looks_the_same_right_or_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_format: str
) -> None:
    """The queue's diagnostics quote what the editor wrote: ``validate``, the daemon's log and
    ``status`` show the quote as written, a right guess like a wrong one."""
    monkeypatch.setenv("GUESSED", GUESSED)
    outputs = {}
    for label, guess in (("right", GUESSED), ("wrong", _wrong(GUESSED))):
        root = tmp_path / label
        root.mkdir()
        project = Project(root, f"sqlite:///{root / 'queue.db'}")
        project.accounts = {
            "team-log": {"network": "log"},
            "bird": {"network": "x", "api_base": "http://127.0.0.1:9",
                     "oauth2_token": "${GUESSED}"},
        }
        project.write_config()
        at = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="minutes")
        project.write_queue(
            f"posts:\n  - id: launch\n    at: {at}\n    accounts: [team-log]\n"
            f"    text: Soldes\n    language: \"{guess}\"\n"
        )
        config = ("--config", str(project.config_path))
        code, out, err = await cli("validate", *config)
        assert code == 1 and guess in out + err, out + err
        seen = {"validate": out + err}
        _code, seen["the daemon's log"] = await run_once(
            project, {"GUESSED": GUESSED}, "--log-format", log_format
        )
        code, out, err = await cli("status", *config)
        assert code == 0, err
        seen["status"] = out
        outputs[label] = {k: _normalize(v, project, {guess: "<GUESS>"}) for k, v in seen.items()}
    for where, text in outputs["right"].items():
        assert text == outputs["wrong"][where], f"{where}:\n{text}\n---\n{outputs['wrong'][where]}"
    assert "<GUESS>" in outputs["right"]["the daemon's log"], outputs["right"]["the daemon's log"]


async def test_a_secret_too_short_to_scrub_is_warned_about(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHORT_TOKEN", "abc1234")
    project.accounts = {"masto": {"network": "mastodon", "instance": "https://m.example",
                                  "token": "${SHORT_TOKEN}"}}
    project.write_config()
    project.write_queue("posts: []\n")
    code, out, err = await cli("validate", "--config", str(project.config_path))
    assert code == 0, err
    assert "${SHORT_TOKEN} is shorter than 8 characters" in out + err
    assert "abc1234" not in out + err


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_item8_the_log_shows_an_editors_id_and_diagnostic_as_written(log_format: str) -> None:
    """A post named after a secret, a diagnostic quoting one: shown as written (masking them
    would confirm the guess), while the same secret from anywhere else in the line is not."""
    import io
    import logging

    from publisher.logs import setup_logging
    from publisher.secrets import REDACTOR, Secret

    try:
        from publisher.redact import Verbatim
    except ImportError:  # before item 8: a plain string, as the daemon logged it
        Verbatim = str  # type: ignore[misc,assignment]
    Secret("ID_SHAPED", MASTO)  # resolving a secret registers it, as config loading does
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    try:
        setup_logging(log_format, "info", out, quiet=())  # type: ignore[arg-type]
        log = logging.getLogger("publisher.engine")
        log.info("launch-%s → bird: failed token %s", MASTO, quote(MASTO), extra={
            "action": "failed", "post": f"launch-{MASTO}", "error": f"401 {MASTO}"})
        log.error(Verbatim(f"queue.yaml:6:15: '{MASTO}\"' is not a language tag"),
                  extra={"action": "sync"})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    first, second = out.getvalue().splitlines()
    if log_format == "json":
        first, second = json.dumps(json.loads(first)), json.dumps(json.loads(second))
    assert first.count(MASTO) == 2 and first.count(MASK) == 2, first  # the id, twice
    assert MASTO in second and MASK not in second, second
    assert REDACTOR.scrub(f"x {MASTO}") == f"x {MASK}"
