"""A dashboard tab over the wire: Streamlit's own websocket protocol, with no browser drawing the page.

A classroom's tabs run on the students' laptops, not on the machine serving the dashboard. To measure
what the server gives N tabs without N browsers eating the server's cores, bench_load.py can open most
of its tabs as WireTabs: each does what the browser's Streamlit client does on the wire and nothing else:
  1. opens ws://HOST/_stcore/stream (subprotocol "streamlit", the page's Origin) and asks for a script run
     (BackMsg rerun_script with the page's query string), as a page load does;
  2. reads every ForwardMsg the server sends (the page's elements, as protobuf deltas);
  3. for each fragment the server says reruns on a timer (ForwardMsg auto_rerun: fragment id, interval),
     asks for that fragment's rerun on the same timer, as the browser's setInterval does.
It records, in seconds since it connected, what bench_load's page probe records in a browser:
  page_load    the progress line first received ("step ... / ...": the live view answered);
  first_chart  the first chart received (an st.vega_lite_chart, or the live view's grid of charts);
  changes      every change of the progress line's text (what a user sees move).
What it does not do is draw: no layout, no Vega, no React. A browser adds its own drawing time on the
student's machine to every figure.
"""

import threading
import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

CHARTS = ("vega_lite_chart", "bidi_component")  # the elements a chart arrives in (ui.live_charts: the latter)


class WireTab:
    """One tab: connect() starts it on its own threads, its attributes are its log, close() ends it."""

    def __init__(self, url: str, query_string: str = ""):
        self.url, self.query_string = url, query_string  # url: http://host:port
        self.page_load: float | None = None
        self.first_chart: float | None = None
        self.changes: list[float] = []
        self.error: str | None = None
        self._last_text: str | None = None
        self._timers: dict[str, threading.Thread] = {}  # fragment id -> its rerun timer
        self._closed = threading.Event()
        self._opened = threading.Event()  # set once the socket is open, or failed to open
        self._send_lock = threading.Lock()
        self._start = 0.0
        self._socket = None

    def connect(self, timeout: float = 120) -> None:
        """Open the socket and ask for the page, as a browser opening the link; returns once it is open."""
        self._start = time.perf_counter()
        threading.Thread(target=self._read, args=(timeout,), name="wire-tab-read", daemon=True).start()
        if not self._opened.wait(timeout):
            raise TimeoutError(f"no websocket to {self.url} within {timeout:g} s")
        if self.error:
            raise ConnectionError(self.error)

    def now(self) -> float:
        """Seconds since this tab connected (the clock of its figures)."""
        return time.perf_counter() - self._start

    def close(self) -> None:
        self._closed.set()
        if self._socket is not None:
            self._socket.close()

    def _rerun(self, fragment_id: str) -> None:
        msg = BackMsg()
        msg.rerun_script.query_string = self.query_string
        msg.rerun_script.widget_states.SetInParent()
        if fragment_id:
            msg.rerun_script.fragment_id = fragment_id
            msg.rerun_script.is_auto_rerun = True
        with self._send_lock:
            self._socket.send(msg.SerializeToString())

    def _read(self, timeout: float) -> None:
        """The tab's life: open the socket, ask for the page, handle every message until it closes."""
        host = self.url.split("://", 1)[1]
        try:
            with connect(f"ws://{host}/_stcore/stream", subprotocols=["streamlit"], origin=self.url,
                         max_size=None, open_timeout=timeout) as socket:
                self._socket = socket
                self._rerun(fragment_id="")
                self._opened.set()
                for data in socket:
                    msg = ForwardMsg()
                    msg.ParseFromString(data)
                    self._handle(msg)
        except Exception as exc:  # the socket closed under us: fine when we closed it
            if not self._closed.is_set():
                self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._opened.set()

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "auto_rerun" and msg.auto_rerun.fragment_id not in self._timers:
            timer = threading.Thread(target=self._every, args=(msg.auto_rerun.fragment_id, msg.auto_rerun.interval),
                                     name="wire-tab-timer", daemon=True)
            self._timers[msg.auto_rerun.fragment_id] = timer
            timer.start()
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                self._timers.pop(fragment_id, None)
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            which = element.WhichOneof("type")
            if which == "progress" and "step" in element.progress.text:
                if self.page_load is None:
                    self.page_load = self.now()
                if element.progress.text != self._last_text:
                    self._last_text = element.progress.text
                    self.changes.append(self.now())
            elif which in CHARTS and self.first_chart is None:
                self.first_chart = self.now()

    def _every(self, fragment_id: str, interval: float) -> None:
        """The browser's setInterval: a rerun request every `interval` s while the fragment lives."""
        next_at = time.perf_counter() + interval
        while not self._closed.wait(max(0.0, next_at - time.perf_counter())):
            if self._timers.get(fragment_id) is not threading.current_thread():
                return  # the server stopped this fragment's timer (or a newer one replaced it)
            try:
                self._rerun(fragment_id)
            except Exception:  # the socket is gone: the tab is closing
                return
            next_at += interval
