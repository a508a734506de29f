"""lanchat: self-hosted chat for a local network, speaking IRC with IRCv3."""

__version__ = "0.1.0"
