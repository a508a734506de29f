"""The IRC client session, sans-I/O: registration (CAP 302, SASL PLAIN), then chat.

Feed it every :class:`~lanchat.proto.message.Message` the server sends with :meth:`feed`; it
returns :mod:`events <lanchat.client.session.events>` and queues the lines to send, which
:meth:`take_outgoing` hands over. No sockets, no event loop; the clock is injected.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from lanchat.client.session import events as ev
from lanchat.client.session.dispatch import dispatch
from lanchat.client.session.model import Batch, Channel
from lanchat.client.session.wire import iso_timestamp, make_action, sasl_plain_chunks, split_text
from lanchat.proto import caps as C
from lanchat.proto.message import Message
from lanchat.proto.names import casefold, parse_decimal

#: The capabilities the client asks for when the server offers them.
WANTED_CAPS = (
    C.SASL,
    C.SERVER_TIME,
    C.MESSAGE_TAGS,
    C.BATCH,
    C.ECHO_MESSAGE,
    C.CHATHISTORY,
    C.LABELED_RESPONSE,
    C.AWAY_NOTIFY,
    C.ACCOUNT_TAG,
    C.MULTI_PREFIX,
    C.CAP_NOTIFY,
)
#: Bytes a relayed ``:nick!~user@host`` source may take when we do not know ours yet.
UNKNOWN_SOURCE_BYTES = 120
#: Longest host part assumed in our own source (the server may show a host name).
HOST_ALLOWANCE = 64


def utc_now() -> datetime:
    """The current time, as the default clock."""
    return datetime.now(UTC)


class ClientSession:
    """One connection's IRC state in the client role."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self.clock = clock
        self.nick = "*"
        self.account: str | None = None
        self.registered = False
        #: Capabilities offered by the server (name -> value) and the ones enabled.
        self.offered: dict[str, str] = {}
        self.caps: set[str] = set()
        self.isupport: dict[str, str] = {}
        #: Channels we are in, by folded name.
        self.channels: dict[str, Channel] = {}
        #: Our ``nick!user@host`` as the welcome line gave it.
        self.source = ""
        self.batches: dict[str, Batch] = {}
        self.who_entries: list[ev.WhoEntry] = []
        self.names: dict[str, list[str]] = {}
        self.caps_done = False
        self.nick_retries = 0
        self._outgoing: list[Message] = []
        self._sasl_chunks: list[str] = []
        self._login_name = ""

    # -- lines out ---------------------------------------------------------------------------

    def send(self, command: str, *params: str, tags: dict[str, str] | None = None) -> None:
        """Queue one line for the server."""
        self._outgoing.append(Message(command, list(params), tags=dict(tags or {})))

    def take_outgoing(self) -> list[Message]:
        """The lines queued since the last call, in order."""
        out, self._outgoing = self._outgoing, []
        return out

    # -- names -------------------------------------------------------------------------------

    def fold(self, name: str) -> str:
        """``name`` folded with the server's CASEMAPPING, for comparisons and keys."""
        return casefold(name, self.isupport.get("CASEMAPPING", "rfc1459"))

    def is_me(self, nick: str) -> bool:
        """True when ``nick`` is ours."""
        return self.fold(nick) == self.fold(self.nick)

    def is_channel(self, name: str) -> bool:
        """True when ``name`` starts with one of the server's channel prefixes."""
        return bool(name) and name[0] in self.isupport.get("CHANTYPES", "#")

    @property
    def status_prefixes(self) -> str:
        """Membership prefix characters (``@+``) from ISUPPORT PREFIX."""
        value = self.isupport.get("PREFIX", "(ov)@+")
        return value.partition(")")[2] or "@+"

    @property
    def history_limit(self) -> int:
        """Most messages one CHATHISTORY request may ask for (0: no limit given)."""
        value = self.isupport.get("CHATHISTORY", "")
        return parse_decimal(value) or 0

    # -- registration ------------------------------------------------------------------------

    def start(self) -> None:
        """Begin: ask for the server's capabilities."""
        self.send("CAP", "LS", "302")

    def login(self, account: str, password: str) -> None:
        """Log in with SASL PLAIN (after :class:`~.events.CapsNegotiated` said SASL is there).

        The answer is :class:`~.events.Registered` or :class:`~.events.LoginFailed`; after a
        failure another :meth:`login` may follow on the same connection."""
        if C.SASL not in self.caps:
            raise RuntimeError("the server did not enable SASL")
        self._login_name = account
        self._sasl_chunks = sasl_plain_chunks(account, password)
        self.send("AUTHENTICATE", "PLAIN")

    def next_sasl_chunk(self) -> None:
        """The server asked for (more of) the SASL response."""
        if self._sasl_chunks:
            self.send("AUTHENTICATE", *self._sasl_chunks[:1])
            self._sasl_chunks = self._sasl_chunks[1:]
        else:
            self.send("AUTHENTICATE", "*")

    def logged_in(self, account: str) -> None:
        """SASL succeeded (903): register with the account's name as nick and end CAP."""
        self._sasl_chunks = []
        self.account = account or self._login_name
        self.send("NICK", self.account)
        self.send("USER", self.account, "0", "*", self.account)
        self.send("CAP", "END")

    def request_caps(self) -> list[ev.Event]:
        """The CAP LS list is complete: request what we want, or finish when that is nothing."""
        wanted = [name for name in WANTED_CAPS if name in self.offered]
        if wanted:
            self.send("CAP", "REQ", " ".join(wanted))
            return []
        return self.caps_negotiated()

    def caps_negotiated(self) -> list[ev.Event]:
        """Report the end of CAP negotiation (once)."""
        if self.caps_done:
            return []
        self.caps_done = True
        return [ev.CapsNegotiated(sasl=C.SASL in self.caps)]

    # -- feeding -----------------------------------------------------------------------------

    def feed(self, msg: Message) -> list[ev.Event]:
        """Process one message from the server; return what it means for the user. Never
        raises: a line that cannot be handled is reported as :class:`~.events.MalformedLine`."""
        try:
            return dispatch(self, msg)
        except Exception:  # a server's odd line must not end the client
            return [ev.MalformedLine(msg.command)]

    # -- chat actions ------------------------------------------------------------------------

    def max_text_bytes(self, target: str, *, action: bool = False) -> int:
        """Bytes of text that fit in one PRIVMSG to ``target`` once the server relays it."""
        if self.source:
            nick, _, host = self.source.partition("@")
            source = len(nick.encode()) + 1 + max(len(host.encode()), HOST_ALLOWANCE)
        else:
            source = UNKNOWN_SOURCE_BYTES
        overhead = 1 + source + len(" PRIVMSG ") + len(target.encode()) + len(" :") + len("\r\n")
        if action:
            overhead += len(make_action(""))
        return max(64, 512 - overhead)

    def say(self, target: str, text: str, *, action: bool = False) -> int:
        """Send ``text`` (split by lines and by size) to a channel or nick; return the number
        of messages queued."""
        count = 0
        limit = self.max_text_bytes(target, action=action)
        for line in text.splitlines() or [text]:
            for piece in split_text(line, limit):
                self.send("PRIVMSG", target, make_action(piece) if action else piece)
                count += 1
        return count

    def join(self, channel: str, key: str | None = None) -> None:
        """JOIN a channel."""
        self.send("JOIN", channel, *([key] if key else []))

    def part(self, channel: str, reason: str = "") -> None:
        """PART a channel."""
        self.send("PART", channel, *([reason] if reason else []))

    def who(self, mask: str) -> None:
        """Ask who is in a channel, or who matches a nick."""
        self.send("WHO", mask)

    def topic(self, channel: str, text: str | None = None) -> None:
        """Ask for a channel's topic, or set it."""
        self.send("TOPIC", channel, *([text] if text is not None else []))

    def away(self, message: str | None) -> None:
        """Mark ourselves away with ``message``, or back with ``None``."""
        self.send("AWAY", *([message] if message else []))

    def request_history(self, target: str, limit: int, since: datetime | None = None) -> bool:
        """CHATHISTORY LATEST for ``target`` (after ``since`` when given); False without the cap."""
        if C.CHATHISTORY not in self.caps:
            return False
        if self.history_limit:
            limit = min(limit, self.history_limit)
        bound = "*" if since is None else "timestamp=" + iso_timestamp(since)
        self.send("CHATHISTORY", "LATEST", target, bound, str(max(1, limit)))
        return True

    def quit(self, reason: str = "") -> None:
        """QUIT with a reason."""
        self.send("QUIT", *([reason] if reason else []))
