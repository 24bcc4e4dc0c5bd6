"""Shared harness of the end-to-end tests: the real desktop app against
real medhead-node processes, driven through the accessibility tree.

A Session owns an X server (Xvfb on a random free display), a session bus
and every process a test starts, and stops them all on close(). App starts
the real `medhead` on a station's data folder and finds widgets by role and
accessible name. run_step() prints one TAP line per step.
"""
import importlib.util
import json
import random
import os
import shutil
import signal
import subprocess
import tempfile
import time
import traceback
import urllib.request


# Under AddressSanitizer the app and the nodes run several times slower.
SLOWDOWN = 4 if os.environ.get("ASAN_OPTIONS") else 1
SYNC_TIMEOUT = 30 * SLOWDOWN  # seconds for a change to cross a link
UI_TIMEOUT = 30 * SLOWDOWN  # seconds for the app to show something


class StepFailed(Exception):
    pass


def log(message):
    print("# " + message.replace("\n", "\n# "), flush=True)


def wait_for(what, predicate, timeout):
    """Polls predicate until it returns a true value; fails with WHAT."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # the tree or a link may still be settling
            last_error = e
        time.sleep(0.25)
    detail = f" (last error: {last_error})" if last_error else ""
    raise StepFailed(f"timed out after {timeout} s waiting for {what}{detail}")


class Session:
    def __init__(self):
        self.root = os.environ["MEDHEAD_SOURCE_ROOT"]
        self.node_bin = os.environ["MEDHEAD_NODE_BIN"]
        self.app_bin = os.environ["MEDHEAD_APP_BIN"]
        self.tmp = tempfile.mkdtemp(prefix="medhead-e2e-")
        self.procs = []
        self.env = dict(os.environ)
        # The app must expose its accessibility tree.
        self.env.pop("GTK_A11Y", None)
        self.env.update(
            # The widgets are found by their English names.
            LANG="C.UTF-8", LANGUAGE="", LC_ALL="C.UTF-8",
            GSK_RENDERER="cairo",
            GSETTINGS_BACKEND="memory",
            GIO_USE_PROXY_RESOLVER="dummy",
            MEDHEAD_SOURCE_DATADIR=os.path.join(self.root, "data"),
            XDG_CACHE_HOME=os.path.join(self.tmp, "cache"),
            XDG_CONFIG_HOME=os.path.join(self.tmp, "config"),
            XDG_DATA_HOME=os.path.join(self.tmp, "data"),
        )

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def node(self, *args):
        result = subprocess.run([self.node_bin, *args], env=self.env, capture_output=True,
                                text=True, timeout=60)
        if result.returncode != 0:
            raise StepFailed(f"medhead-node {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def fingerprint(self, name):
        for line in self.node("id", "--data-dir", self.path(name)).splitlines():
            if line.startswith("fingerprint:"):
                return line.split(":", 1)[1].strip()
        raise StepFailed(f"no fingerprint for {name}")

    def spawn(self, name, argv):
        logf = open(self.path(name + ".log"), "w")
        proc = subprocess.Popen(argv, env=self.env, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        logf.close()
        proc.medhead_name = name
        self.procs.append(proc)
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def read_from(self, argv, name, option):
        """Starts a server that writes one line to the fd given by OPTION."""
        read_end, write_end = os.pipe()
        logf = open(self.path(name + ".log"), "w")
        proc = subprocess.Popen(argv + [option.format(write_end)] if "=" in option
                                else argv + [option, str(write_end)],
                                pass_fds=[write_end], stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        logf.close()
        os.close(write_end)
        self.procs.append(proc)
        with os.fdopen(read_end) as f:
            line = f.readline().strip()
        if not line:
            raise StepFailed(f"{argv[0]} did not start (see {name}.log)")
        return line

    def start_display(self):
        # A random high display number, away from xvfb-run -a (99 up) and
        # -displayfd alone (0 up); a taken number makes Xvfb exit: try
        # another. -noreset: at-spi-bus-launcher connects to the display and
        # leaves; the server then resets, and an app connecting during the
        # reset failed with 'cannot open display' (about 1 run in 4).
        for attempt in range(8):
            number = str(random.randrange(200, 60000))
            try:
                display = self.read_from(["Xvfb", ":" + number, "-screen", "0", "1024x600x24",
                                          "-nolisten", "tcp", "-noreset"], "xvfb", "-displayfd")
            except StepFailed:
                self.procs[-1].wait()
                self.procs.pop()
                continue
            os.environ["DISPLAY"] = ":" + display
            self.env["DISPLAY"] = ":" + display
            self.xvfb = self.procs[-1]
            return
        raise StepFailed("Xvfb did not start on any of 8 display numbers (see xvfb.log)")

    def start_session_bus(self):
        """A private session bus; its output goes to a log, not to TAP."""
        address = self.read_from(["dbus-daemon", "--session", "--nofork"], "dbus",
                                 "--print-address={}")
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
        self.env["DBUS_SESSION_BUS_ADDRESS"] = address
        # A notification server on that bus, so the tests see what the app
        # would show on a desktop.
        self.notes_file = self.path("notifications.jsonl")
        recorder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notify_recorder.py")
        self.read_from(["/usr/bin/python3", recorder, self.notes_file], "notify", "--ready-fd")
        self.recorder = self.procs[-1]

    def notifications(self):
        """What the apps asked to show, oldest first: dicts with summary, body."""
        try:
            with open(self.notes_file) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def click_latest_notification(self):
        self.recorder.send_signal(signal.SIGUSR1)

    def close(self, keep_logs):
        # Apps and nodes first, the session bus last.
        for proc in reversed(list(self.procs)):
            self.stop(proc)
        if keep_logs:
            for name in sorted(os.listdir(self.tmp)):
                if name.endswith(".log"):
                    with open(self.path(name), errors="replace") as f:
                        tail = f.read()[-3000:]
                    log(f"--- {name} (end) ---\n{tail}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    # The hub and its stations

    def start_hub(self, api_addr="127.0.0.1:0", sync_addr="127.0.0.1:0"):
        """Serves the hub's folder; returns its sync URL. A restart on the
        addresses it had keeps its stations' pinned URL valid."""
        # Files a stopped hub left behind must not pass for the new one's.
        for name in ("api-url", "sync-url"):
            if os.path.exists(self.path("hub", name)):
                os.unlink(self.path("hub", name))
        hub = self.spawn("hub", [self.node_bin, "serve", "--data-dir", self.path("hub"),
                                 "--api", api_addr, "--listen", sync_addr])

        def hub_ready():
            if hub.poll() is not None:
                raise StepFailed(f"medhead-node serve exited with {hub.returncode}")
            return os.path.exists(self.path("hub", "api-url")) \
                and os.path.exists(self.path("hub", "sync-url"))
        wait_for("the hub's api-url and sync-url", hub_ready, 20)
        self.hub = hub
        return open(self.path("hub", "sync-url")).read().strip()

    def set_up_network(self, stations, imports=("region-idf.json",)):
        """Starts the display and the bus, then a hub holding the demo files
        IMPORTS, peered both ways with STATIONS (name: `init` arguments): the
        hub pins them, they call it. Returns the hub's sync URL."""
        demo = os.path.join(self.root, "data", "demo")
        self.start_display()
        self.start_session_bus()
        self.node("init", "--data-dir", self.path("hub"), "--name", "E2E hub", "--role", "hub")
        for name in imports:
            self.node("import", "--data-dir", self.path("hub"), os.path.join(demo, name))
        # The stations import nothing: their hospital, unit and the region's
        # public data come from the hub over the link.
        for station, args in stations.items():
            self.node("init", "--data-dir", self.path(station), "--name", f"E2E {station}",
                      *args)
        hub_fp = self.fingerprint("hub")
        for station in stations:
            self.node("peer", "add", "--data-dir", self.path("hub"), self.fingerprint(station))
        sync_url = self.start_hub()
        for station in stations:
            self.node("peer", "add", "--data-dir", self.path(station), hub_fp, "--url", sync_url)
        return sync_url

    def api(self, path, body=None):
        """A call to the hub's REST API; BODY, if any, is POSTed as JSON."""
        url = open(self.path("hub", "api-url")).read().strip()
        token = open(self.path("hub", "api-token")).read().strip()
        headers = {"Authorization": "Bearer " + token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url + path, data=data, headers=headers)
        # Straight to 127.0.0.1, whatever http_proxy says.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as answer:
            return json.load(answer)


# The accessibility tree

def find_all(root, predicate, limit=None, depth=0):
    found = []
    if root is None or depth > 60:
        return found
    try:
        if predicate(root):
            found.append(root)
            if limit and len(found) >= limit:
                return found
        for child in root:
            found += find_all(child, predicate, limit and limit - len(found), depth + 1)
            if limit and len(found) >= limit:
                break
    except Exception:
        pass  # a node that went away while walking
    return found


def find_one(root, predicate):
    found = find_all(root, predicate, limit=1)
    return found[0] if found else None


def text_of(accessible):
    text = accessible.queryText()
    # GTK 4.8: getText (0, -1) returns "".
    return text.getText(0, text.characterCount)


class App:
    """The real medhead app on one station, seen through AT-SPI."""

    def __init__(self, session, name, data_dir):
        import pyatspi
        self.pyatspi = pyatspi
        self.session = session
        self.name = name
        self.proc = session.spawn(name, [session.app_bin, "--data-dir", data_dir])
        self.app = wait_for(f"the {name} app on the accessibility bus", self._find_app,
                            UI_TIMEOUT)
        self.frame = wait_for(f"the {name} app's main window", self._find_frame, UI_TIMEOUT)

    def _find_app(self):
        if self.proc.poll() is not None:
            xvfb = self.session.xvfb
            display = self.session.env["DISPLAY"]
            socket = "/tmp/.X11-unix/X" + display[1:]
            raise StepFailed(f"the {self.name} app exited with {self.proc.returncode} "
                             f"(Xvfb {display}: "
                             f"{'running' if xvfb.poll() is None else f'exited {xvfb.returncode}'}"
                             f", socket {'present' if os.path.exists(socket) else 'missing'})")
        desktop = self.pyatspi.Registry.getDesktop(0)
        for app in desktop:
            if app is not None and app.get_process_id() == self.proc.pid:
                return app
        return None

    def _find_frame(self):
        for child in self.app:
            if child is not None and child.getRole() == self.pyatspi.ROLE_FRAME \
               and child.name.startswith("MedHead Emergency"):
                return child
        return None

    def find(self, role, name_prefix):
        return find_one(self.frame, lambda a: a.getRole() == role
                        and a.name.startswith(name_prefix))

    def window_id(self):
        out = subprocess.run(["xdotool", "search", "--pid", str(self.proc.pid), "--onlyvisible"],
                             capture_output=True, text=True).stdout.split()
        if not out:
            raise StepFailed(f"no X window for the {self.name} app")
        return out[-1]

    def key(self, keys):
        """Types keys into the app's window, as a keyboard user would."""
        wid = self.window_id()
        subprocess.run(["xdotool", "windowactivate", "--sync", wid], capture_output=True)
        subprocess.run(["xdotool", "key", "--window", wid, "--clearmodifiers", keys], check=True)

    def click(self, accessible, at_start=False):
        """Clicks a widget: its middle, or near its start (the text of a spin
        button, not its - and + buttons). GTK 4.8 cannot grab focus over
        AT-SPI, and its extents are window-relative."""
        x, y, w, h = accessible.queryComponent().getExtents(self.pyatspi.WINDOW_COORDS)
        wid = self.window_id()
        subprocess.run(["xdotool", "mousemove", "--window", wid,
                        str(x + min(12, w // 4) if at_start else x + w // 2),
                        str(y + h // 2), "click", "1"], check=True)

    def select_tab(self, title):
        """Switches views by the view switcher's page tab, through AT-SPI."""
        tab = wait_for(f"the '{title}' view tab",
                       lambda: find_one(self.frame, lambda a: a.getRole()
                                        == self.pyatspi.ROLE_PAGE_TAB and a.name == title),
                       UI_TIMEOUT)
        action = tab.queryAction()
        if action.nActions > 0:
            action.doAction(0)
        else:
            self.click(tab)

    def close(self):
        self.session.stop(self.proc)


def run_step(steps, number, step, state):
    if state["failed"]:
        print(f"ok {number} - {steps[number - 1]} # SKIP an earlier step failed", flush=True)
        return
    started = time.monotonic()
    try:
        detail = step()
        took = time.monotonic() - started
        print(f"ok {number} - {steps[number - 1]} ({took:.1f} s){' ' + detail if detail else ''}",
              flush=True)
    except Exception as e:
        state["failed"] = True
        print(f"not ok {number} - {steps[number - 1]}", flush=True)
        log(f"{type(e).__name__}: {e}")
        if not isinstance(e, StepFailed):
            log(traceback.format_exc())


def preflight(steps):
    """Prints the TAP plan. Returns the exit status when the test cannot
    run here (a bail out, or every step skipped), None when it can."""
    print(f"1..{len(steps)}", flush=True)
    for name in ("MEDHEAD_NODE_BIN", "MEDHEAD_APP_BIN", "MEDHEAD_SOURCE_ROOT"):
        if not os.environ.get(name):
            print(f"Bail out! {name} is not set (run through meson)")
            return 1
    # Imported later, once the test's own session bus is up.
    if importlib.util.find_spec("pyatspi") is None:
        for i in range(len(steps)):
            print(f"ok {i + 1} - {steps[i]} # SKIP no pyatspi (python3-pyatspi)")
        return 0
    missing = [p for p in ("Xvfb", "xdotool", "dbus-daemon") if not shutil.which(p)]
    if missing:
        for i in range(len(steps)):
            print(f"ok {i + 1} - {steps[i]} # SKIP needs {', '.join(missing)}")
        return 0
    return None


def run_steps(session, steps, functions):
    """Runs one function a step (skipped once one fails), then closes the
    session, keeping its logs in the TAP on failure; returns the exit status."""
    state = {"failed": False}
    try:
        for number, step in enumerate(functions, 1):
            run_step(steps, number, step, state)
    finally:
        session.close(keep_logs=state["failed"])
    return 1 if state["failed"] else 0
