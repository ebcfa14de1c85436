"""Exit codes and the one error type every step raises."""

from __future__ import annotations

OK = 0
INTERNAL = 1  # a bug: the traceback is printed
USAGE = 2  # bad command line (argparse)
HOSTKEY = 3  # host key unknown, changed or revoked: nothing was sent
AUTH = 4  # no key or password worked: nothing changed
CONNECT = 5  # cannot reach the router, or lost it before anything changed
UNSUITABLE = 6  # target, architecture, flash or RAM not enough: nothing changed
CONFIG = 7  # configuration invalid: nothing changed
ROLLED_BACK = 8  # failed after changes; the router is back to its previous state
ROLLBACK_PENDING = 9  # failed and the tool lost the router or could not restore it
UNFINISHED = 10  # an earlier deploy to this router never finished: decide first

EXIT_CODES = {
    OK: "success (also: dry run done, nothing to change)",
    INTERNAL: "unexpected error in the tool (please report it)",
    USAGE: "bad command line",
    HOSTKEY: "host key unknown, changed or revoked (@revoked); nothing was sent to the router",
    AUTH: "authentication failed; nothing was changed",
    CONNECT: "cannot connect (or connection lost before any change)",
    UNSUITABLE: "router not suitable (system, architecture, flash or RAM); nothing changed",
    CONFIG: "configuration invalid; nothing changed",
    ROLLED_BACK: "deploy failed; the router was restored to its previous state",
    ROLLBACK_PENDING: "deploy failed and the router could not be restored from here: it"
    " restores itself when its timer runs out; else run --rollback DIR",
    UNFINISHED: "an earlier deploy to this router did not finish; see the message",
}


class DeployError(Exception):
    """A failure the user can act on: which host, which step, what to do."""

    def __init__(self, code: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
