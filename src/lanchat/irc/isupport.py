"""RPL_ISUPPORT (005) tokens."""

from __future__ import annotations

from lanchat.config import Config
from lanchat.core.channels import MAX_KEY_LENGTH, MAX_LIST_ENTRIES
from lanchat.core.state import ChatSettings
from lanchat.proto.names import CHANNEL_LEN, CHANTYPES

USER_LENGTH = 18
CHATHISTORY_MAX = 1000
MODES_PER_COMMAND = 6
TARGETS_PER_MESSAGE = 4
MULTILINE_MAX_BYTES = 4096
MULTILINE_MAX_LINES = 100


def isupport_tokens(config: Config, settings: ChatSettings) -> list[str]:
    """Every 005 token this server sends, in order."""
    network = config.network.replace("\\", "\\x5C").replace(" ", "\\x20").replace("=", "\\x3D")
    return [
        f"AWAYLEN={settings.away_length}",
        "BOT=B",
        f"CASEMAPPING={settings.casemapping}",
        f"CHANLIMIT={CHANTYPES}:{settings.max_channels}",
        "CHANMODES=beI,k,l,Cimnst",
        f"CHANNELLEN={CHANNEL_LEN}",
        f"CHANTYPES={CHANTYPES}",
        f"CHATHISTORY={CHATHISTORY_MAX}",
        "ELIST=CMNTU",
        "EXCEPTS",
        "INVEX",
        f"KEYLEN={MAX_KEY_LENGTH}",
        f"KICKLEN={settings.kick_length}",
        f"MAXLIST=beI:{MAX_LIST_ENTRIES}",
        f"MODES={MODES_PER_COMMAND}",
        f"MONITOR={settings.monitor_limit}",
        "MSGREFTYPES=msgid,timestamp",
        f"NAMELEN={settings.realname_length}",
        f"NETWORK={network}",
        f"NICKLEN={settings.nick_length}",
        "PREFIX=(ov)@+",
        "SAFELIST",
        "STATUSMSG=@+",
        f"TARGMAX=JOIN:,PART:,KICK:4,NAMES:,LIST:1,WHOIS:1,USERHOST:5,ISON:,MONITOR:,"
        f"PRIVMSG:{TARGETS_PER_MESSAGE},NOTICE:{TARGETS_PER_MESSAGE},TAGMSG:{TARGETS_PER_MESSAGE}",
        f"TOPICLEN={settings.topic_length}",
        f"USERLEN={USER_LENGTH}",
        "UTF8ONLY",
        "WHOX",
    ]
