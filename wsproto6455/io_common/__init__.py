"""What the I/O layers (``wsproto6455.asyncio``, ``wsproto6455.sync``) share.

URI parsing, header lists and the exceptions users catch: one definition,
so a script moving between the two layers catches the same classes. Stdlib
only, and nothing here imports either layer.
"""
