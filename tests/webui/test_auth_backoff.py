"""Login back-off per client address (issue 11 item 9).

Before: one wrong secret from anyone made the right one wait for everybody (a global
back-off): any tor_off user could lock the administrator out for good by guessing once a
minute. Now each address backs off on its own, in a bounded table that forgets.
"""

from __future__ import annotations

from webui import auth

from .conftest import call
from .helpers import ORIGIN, make, secret_of

A, B = "192.168.8.50", "192.168.8.51"


def _login(app, remote: str, secret: str):
    return call(app, "POST", "/torbox/login", remote=remote, headers=ORIGIN,
                form={"secret": secret})


def test_wrong_secret_from_one_address_does_not_block_another(tmp_path):
    app, _cfg, _tor, a = make(tmp_path)
    r = _login(app, A, "wrong-guess")
    assert r.status == 403 and "Wrong secret" in r.body
    # another visitor on tor_off, right secret, at once: logged in
    r = _login(app, B, secret_of(a))
    assert r.status == 303, r.body
    # the guesser is still slowed down, even with the right secret
    r = _login(app, A, secret_of(a))
    assert r.status == 403 and "Too many wrong secrets" in r.body


def test_backoff_grows_per_address_and_resets_on_success(tmp_path):
    a = auth.Auth(str(tmp_path / "s" / "webui.secret"))
    secret = secret_of(a)
    t = 1000.0
    waits = []
    for _ in range(8):
        sid, msg = a.login("wrong-guess", now=t, client=A)
        assert sid is None and msg == "Wrong secret."
        until = a.blocked_until(A)
        waits.append(until - t)
        sid, msg = a.login(secret, now=until - 0.5, client=A)  # too early, even if right
        assert sid is None and "try again in 1 s" in msg
        t = until
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert a.blocked_until(B) == 0  # B never waited
    sid, _ = a.login(secret, now=t, client=A)
    assert sid is not None
    assert a.blocked_until(A) == 0  # the right secret clears A's record
    sid, msg = a.login("wrong-guess", now=t, client=A)
    assert a.blocked_until(A) == t + 1  # back to the first step


def test_table_is_bounded_and_forgets(tmp_path):
    a = auth.Auth(str(tmp_path / "s" / "webui.secret"))
    t = 1000.0
    for i in range(auth.MAX_TRACKED_CLIENTS * 3):
        a.login("wrong-guess", now=t + i * 0.001, client=f"10.0.{i // 250}.{i % 250}")
        assert a.tracked_clients() <= auth.MAX_TRACKED_CLIENTS
    # the newest guessers are the ones kept (an old entry goes first)
    newest = f"10.0.{(auth.MAX_TRACKED_CLIENTS * 3 - 1) // 250}.{(auth.MAX_TRACKED_CLIENTS * 3 - 1) % 250}"
    assert a.blocked_until(newest) > 0
    # long after the last failure, every record is gone
    later = t + auth.FORGET_AFTER_S + 120
    a.login("wrong-guess", now=later, client=B)
    assert a.tracked_clients() == 1
    assert a.blocked_until(A) == 0


def test_flooding_the_table_does_not_free_a_guesser(tmp_path):
    """An address that is still backing off keeps its record however many others fail:
    a full table drops entries whose back-off has run out first."""
    a = auth.Auth(str(tmp_path / "s" / "webui.secret"))
    t = 1000.0
    for _ in range(6):  # A earns a 32 s wait
        a.login("wrong-guess", now=t, client=A)
        t = a.blocked_until(A)
    a.login("wrong-guess", now=t, client=A)
    until = a.blocked_until(A)
    assert until - t == 60
    for i in range(auth.MAX_TRACKED_CLIENTS * 2):  # each fails once, 1 s back-off
        a.login("wrong-guess", now=t + 2 + i * 0.001, client=f"10.1.{i // 250}.{i % 250}")
    assert a.blocked_until(A) == until
