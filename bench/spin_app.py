"""A Space that spins every core and still answers GET with "spin": the load of
bench/cpu.py and tests/reliability/test_cpu_priority.py (which read this file as the app
they build into an image)."""

import http.server
import multiprocessing
import os


def spin() -> None:
    while True:
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"spin")

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    for _ in range(os.cpu_count() or 2):
        multiprocessing.Process(target=spin, daemon=True).start()
    http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
