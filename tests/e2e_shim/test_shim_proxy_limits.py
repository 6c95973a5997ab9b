"""The proxy ``router shim`` runs for its children has router proxy's client-connection limits
(docs/proxy-limits.md#connections): a process of the tree that sends an endless header or what is
not HTTP gets the same answers in its protocol, on raw sockets, and real calls go on."""

import sys
from pathlib import Path

from fakes import FakeProvider
from shim_support import run_shim, write_router_home, write_script

SCRIPT = """
import os, socket
from urllib.parse import urlsplit

proxy = urlsplit(os.environ["ROUTER_SHIM_PROXY_URL"])

def exchange(request):
    with socket.create_connection((proxy.hostname, proxy.port), timeout=10) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass  # the proxy answered and closed before the request ended
        data = b""
        while True:
            try:
                part = sock.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            data += part
    head, _, body = data.partition(b"\\r\\n\\r\\n")
    return int(head.split()[1]), json.loads(body)

endless = b"POST /v1/messages HTTP/1.1\\r\\nhost: 127.0.0.1\\r\\nx-endless: " + b"a" * (4 * 1024 * 1024)
malformed = b"POST /v1/chat/completions HTTP/1.1\\r\\nhost: 127.0.0.1\\r\\nno colon\\r\\n\\r\\n"
upgrade = (b"GET /v1/messages HTTP/1.1\\r\\nhost: 127.0.0.1\\r\\nconnection: Upgrade\\r\\n"
           b"upgrade: websocket\\r\\n\\r\\n")
report([exchange(endless), exchange(malformed), exchange(upgrade)])
"""


def test_the_tree_proxy_refuses_in_the_client_protocol(tmp_path: Path, provider: FakeProvider) -> None:
    home = tmp_path / "router-home"
    write_router_home(home, provider.root_url)
    script = write_script(tmp_path / "work", SCRIPT)
    result = run_shim([sys.executable, str(script)], home)
    assert result.returncode == 0, result.explain()
    (endless_status, endless), (malformed_status, malformed), (upgrade_status, upgrade) = result.result()
    assert endless_status == 431 and endless["type"] == "error" and "32768 bytes" in endless["error"]["message"]
    assert malformed_status == 400 and set(malformed["error"]) == {"message", "type", "param", "code"}
    assert upgrade_status == 404 and upgrade["error"]["type"] == "not_found_error"
