"""lanchat's terminal client: ``lanchat chat [HOST[:PORT]]``.

Built on :mod:`lanchat.proto` in the client role; it never imports the server's modules.
The pieces, from the wire up:

- :mod:`.connection` opens TCP or TLS connections and frames IRC lines;
- :mod:`.trust` pins TLS certificates on first use;
- :mod:`.discovery` finds lanchat servers on the LAN with DNS-SD;
- :mod:`.session` is the sans-I/O IRC client state (CAP, SASL, channels, history batches);
- :mod:`.link` drives one session over one connection;
- :mod:`.commands`, :mod:`.conversations` and :mod:`.render` turn input into actions and
  events into lines;
- :mod:`.ui` is the prompt_toolkit terminal, :mod:`.chat` the running chat with reconnects,
  and :mod:`.app` the entry point.
"""
