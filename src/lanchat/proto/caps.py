"""IRCv3 capabilities this server offers, and bits for the ones that change a line's tags."""

from __future__ import annotations

CAP_NOTIFY = "cap-notify"
MESSAGE_TAGS = "message-tags"
SERVER_TIME = "server-time"
ECHO_MESSAGE = "echo-message"
BATCH = "batch"
LABELED_RESPONSE = "labeled-response"
ACCOUNT_TAG = "account-tag"
ACCOUNT_NOTIFY = "account-notify"
AWAY_NOTIFY = "away-notify"
EXTENDED_JOIN = "extended-join"
MULTI_PREFIX = "multi-prefix"
USERHOST_IN_NAMES = "userhost-in-names"
SETNAME = "setname"
INVITE_NOTIFY = "invite-notify"
SASL = "sasl"
CHATHISTORY = "draft/chathistory"
EVENT_PLAYBACK = "draft/event-playback"
READ_MARKER = "draft/read-marker"
MULTILINE = "draft/multiline"
MESSAGE_REDACTION = "draft/message-redaction"
CHGHOST = "chghost"
EXTENDED_MONITOR = "extended-monitor"
SEARCH = "soju.im/search"

#: Bit flags for the caps that decide which tags a relayed message carries. A client's
#: ``tagmask`` is the OR of these; fan-out renders one line per distinct mask.
TAG_MESSAGE_TAGS = 1
TAG_SERVER_TIME = 2
TAG_ACCOUNT = 4
TAG_BATCH = 8

TAG_BITS = {
    MESSAGE_TAGS: TAG_MESSAGE_TAGS,
    SERVER_TIME: TAG_SERVER_TIME,
    ACCOUNT_TAG: TAG_ACCOUNT,
    BATCH: TAG_BATCH,
}


def offered_caps(*, multiline_max_bytes: int, multiline_max_lines: int) -> dict[str, str]:
    """Every capability offered, name -> value ("" for none), in CAP LS order."""
    return {
        CAP_NOTIFY: "",
        MESSAGE_TAGS: "",
        SERVER_TIME: "",
        ECHO_MESSAGE: "",
        BATCH: "",
        LABELED_RESPONSE: "",
        ACCOUNT_TAG: "",
        ACCOUNT_NOTIFY: "",
        AWAY_NOTIFY: "",
        EXTENDED_JOIN: "",
        MULTI_PREFIX: "",
        USERHOST_IN_NAMES: "",
        SETNAME: "",
        INVITE_NOTIFY: "",
        CHGHOST: "",
        EXTENDED_MONITOR: "",
        SASL: "PLAIN",
        CHATHISTORY: "",
        EVENT_PLAYBACK: "",
        READ_MARKER: "",
        MULTILINE: f"max-bytes={multiline_max_bytes},max-lines={multiline_max_lines}",
        MESSAGE_REDACTION: "",
        SEARCH: "",
    }
