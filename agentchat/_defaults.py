"""Default settings as plain numbers, in a module that imports nothing: the command line's
``--help`` shows them without loading aiohttp, and the client takes them from here."""

MAX_RETRIES = 2
#: The size of a client's connection pool: how many requests (an open stream holds one
#: connection for its whole length) can be in flight at once. As in the openai and anthropic
#: SDKs (httpx), it is large enough that one client can carry a busy web service.
MAX_CONNECTIONS = 1000
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 600.0
STREAM_IDLE_TIMEOUT = 600.0
POOL_TIMEOUT = 60.0
#: How many first finished requests of a batch failing the same way (401, 403 or 404) stop it.
STOP_ON_SETUP_ERRORS = 10
