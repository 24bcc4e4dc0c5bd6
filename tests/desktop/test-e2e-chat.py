#!/usr/bin/python3
"""End to end: chat between the desktop app and a hub, through the
accessibility tree, with the link cut and restored.

1. A hub (medhead-node serve) holds the demo region; a hospital desk
   station is peered with it both ways (the hub pins it, it calls the hub).
2. The desk app opens on Chat (broadcast); a message typed there (Enter
   sends) reaches the hub's REST API, and its mark turns "Delivered".
3. A message posted on the hub's REST API shows in the desk app.
   One posted to the desk's hospital channel, while the desk reads
   broadcast, raises a notification (seen by a notification server on the
   test's session bus); clicking it opens that channel in the app.
4. The hub is stopped: a message typed in the app shows "Local only".
5. The hub starts again on the same data folder and ports: the mark turns
   "Delivered", and the hub's REST API lists the message.

Run as `/usr/bin/python3 test-e2e-chat.py` (meson does). Prints TAP. Needs
MEDHEAD_NODE_BIN, MEDHEAD_APP_BIN and MEDHEAD_SOURCE_ROOT.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_harness import (App, Session, StepFailed, SYNC_TIMEOUT, UI_TIMEOUT,  # noqa: E402
                         find_all, preflight, run_steps, text_of, wait_for)

STEPS = [
    "hub serves the region, peered with a desk station",
    "a message typed in the desk app reaches the hub and shows as delivered",
    "a message posted on the hub shows in the desk app",
    "a message in another channel raises a notification that opens it",
    "with the hub stopped, a message typed in the app shows as local only",
    "with the hub back on the same port, the message is delivered",
]

DESK_HOSPITAL = "c05b6f66-3efe-57e1-9eb1-e7f8fd74cb49"
DESK_HOSPITAL_NAME = "Hôpital de la Pitié-Salpêtrière"
# The desk calls the hub again after at most 30 s of backoff.
RELINK_TIMEOUT = 75


def main():
    status = preflight(STEPS)
    if status is not None:
        return status

    session = Session()
    shared = {}

    def hub_bodies():
        messages = session.api("/api/v1/messages?channel=broadcast&limit=1000")
        return [m.get("body") for m in messages]

    def labels(app):
        role = app.pyatspi.ROLE_LABEL
        return [text_of(a) for a in find_all(app.frame, lambda a: a.getRole() == role)]

    def mark_after(app, body):
        """The delivery mark in the row of the message BODY (the label that
        comes right after the time, before the body, in the row)."""
        texts = labels(app)
        if body not in texts:
            return None
        i = texts.index(body)
        for t in reversed(texts[max(0, i - 4):i]):
            if t in ("Local only", "Delivered"):
                return t
        return None

    def send(app, body):
        entry = wait_for("the message entry",
                         lambda: app.find(app.pyatspi.ROLE_TEXT, "Message")
                         or app.find(app.pyatspi.ROLE_ENTRY, "Message"), UI_TIMEOUT)
        app.click(entry)
        entry.queryEditableText().setTextContents(body)
        wait_for("the entry to hold the message", lambda: text_of(entry) == body, 5)
        app.key("Return")

    def set_up_network():
        sync_url = session.set_up_network(
            {"desk": ("--role", "hospital", "--hospital", DESK_HOSPITAL)})
        api_url = open(session.path("hub", "api-url")).read().strip()
        # The hub comes back on the same addresses: the desk keeps its URL.
        shared["sync_addr"] = sync_url.split("://", 1)[1].rstrip("/")
        shared["api_addr"] = api_url.split("://", 1)[1].rstrip("/")
        return f"hub at {sync_url}"

    def desk_to_hub():
        desk = App(session, "desk", session.path("desk"))
        shared["desk"] = desk
        desk.select_tab("Chat")
        body = "E2E desk to hub: bed 4 ready"
        send(desk, body)
        started = time.monotonic()
        wait_for("the hub's REST API to list the desk's message", lambda: body in hub_bodies(),
                 SYNC_TIMEOUT)
        took = time.monotonic() - started
        wait_for("the message's mark to read Delivered",
                 lambda: mark_after(desk, body) == "Delivered", SYNC_TIMEOUT)
        return f"on the hub after {took:.1f} s"

    def hub_to_desk():
        desk = shared["desk"]
        body = "E2E hub to desk: crew inbound, ETA 12 min"
        session.api("/api/v1/messages", {"channel": "broadcast", "body": body})
        started = time.monotonic()
        wait_for("the desk app to show the hub's message", lambda: body in labels(desk),
                 SYNC_TIMEOUT)
        return f"shown after {time.monotonic() - started:.1f} s"

    def notified():
        desk = shared["desk"]
        body = "E2E hub to the Pitié's channel: call the SAMU"
        session.api("/api/v1/messages", {"channel": "hospital:" + DESK_HOSPITAL, "body": body})
        note = wait_for("a notification of the message",
                        lambda: next((n for n in session.notifications()
                                      if n["body"] == body), None), SYNC_TIMEOUT)
        if not note["summary"].endswith(" in " + DESK_HOSPITAL_NAME):
            raise StepFailed(f"the notification's title reads {note['summary']!r}")
        shown = wait_for("the desk's labels", lambda: (labels(desk),), UI_TIMEOUT)[0]
        if body in shown:
            raise StepFailed("the message shows before its channel was opened")
        session.click_latest_notification()
        clicked = time.monotonic()
        wait_for("the click to open the hospital's channel", lambda: body in labels(desk)
                 and DESK_HOSPITAL_NAME in labels(desk), UI_TIMEOUT)
        opened = time.monotonic() - clicked
        # Back to broadcast for the next steps.
        channel = wait_for("the broadcast channel in the list",
                           lambda: desk.find(desk.pyatspi.ROLE_LABEL, "Broadcast"), UI_TIMEOUT)
        desk.click(channel)
        wait_for("the broadcast channel to open again",
                 lambda: "E2E hub to desk: crew inbound, ETA 12 min" in labels(desk), UI_TIMEOUT)
        return f"title {note['summary']!r}, channel open {opened:.1f} s after the click"

    def offline_local_only():
        desk = shared["desk"]
        session.stop(session.hub)
        body = "E2E typed offline: patient arrived"
        shared["offline"] = body
        send(desk, body)
        mark = wait_for("the offline message to show Local only",
                        lambda: mark_after(desk, body) == "Local only" and "Local only", UI_TIMEOUT)
        # And it stays so: nobody has it.
        time.sleep(2)
        if mark_after(desk, body) != "Local only":
            raise StepFailed(f"the mark reads {mark_after(desk, body)!r} with the hub down")
        return mark

    def relinked_delivered():
        desk = shared["desk"]
        body = shared["offline"]
        session.start_hub(shared["api_addr"], shared["sync_addr"])
        started = time.monotonic()
        wait_for("the mark to flip to Delivered once the hub is back",
                 lambda: mark_after(desk, body) == "Delivered", RELINK_TIMEOUT)
        took = time.monotonic() - started
        wait_for("the hub's REST API to list the offline message",
                 lambda: body in hub_bodies(), SYNC_TIMEOUT)
        desk.close()
        return f"delivered {took:.1f} s after the hub restarted"

    return run_steps(session, STEPS, [set_up_network, desk_to_hub, hub_to_desk, notified,
                                      offline_local_only, relinked_delivered])


if __name__ == "__main__":
    sys.exit(main())
