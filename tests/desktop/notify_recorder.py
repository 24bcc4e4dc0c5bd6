#!/usr/bin/python3
"""A notification server for the end-to-end tests: owns
org.freedesktop.Notifications on the session bus (the one GLib's
GNotification uses outside a sandbox when no org.gtk.Notifications is
there), and appends each notification to a file as one JSON line:
{"app": ..., "summary": ..., "body": ..., "actions": [...]}.

Usage: notify_recorder.py OUTPUT-FILE --ready-fd FD
Writes "ready" to FD once it owns the name. On SIGUSR1 it clicks the
latest notification (emits ActionInvoked with its "default" action), as a
user clicking its bubble would.
"""
import json
import os
import signal
import sys

from gi.repository import Gio, GLib

XML = """
<node>
  <interface name="org.freedesktop.Notifications">
    <method name="Notify">
      <arg type="s" direction="in"/><arg type="u" direction="in"/>
      <arg type="s" direction="in"/><arg type="s" direction="in"/>
      <arg type="s" direction="in"/><arg type="as" direction="in"/>
      <arg type="a{sv}" direction="in"/><arg type="i" direction="in"/>
      <arg type="u" direction="out"/>
    </method>
    <method name="CloseNotification"><arg type="u" direction="in"/></method>
    <method name="GetCapabilities"><arg type="as" direction="out"/></method>
    <method name="GetServerInformation">
      <arg type="s" direction="out"/><arg type="s" direction="out"/>
      <arg type="s" direction="out"/><arg type="s" direction="out"/>
    </method>
    <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
    <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
  </interface>
</node>
"""


def main():
    output, ready_fd = sys.argv[1], int(sys.argv[-1])
    counter = [0]
    bus = []

    def on_call(connection, sender, path, interface, method, parameters, invocation):
        if method == "Notify":
            app, _replaces, _icon, summary, body, actions, _hints, _timeout = parameters.unpack()
            with open(output, "a") as f:
                f.write(json.dumps({"app": app, "summary": summary, "body": body,
                                    "actions": actions}) + "\n")
            counter[0] += 1
            invocation.return_value(GLib.Variant("(u)", (counter[0],)))
        elif method == "GetCapabilities":
            invocation.return_value(GLib.Variant("(as)", (["body", "actions"],)))
        elif method == "GetServerInformation":
            invocation.return_value(GLib.Variant("(ssss)", ("recorder", "medhead", "1", "1.2")))
        else:
            invocation.return_value(None)

    def click_latest():
        if bus and counter[0] > 0:
            bus[0].emit_signal(None, "/org/freedesktop/Notifications",
                               "org.freedesktop.Notifications", "ActionInvoked",
                               GLib.Variant("(us)", (counter[0], "default")))
        return GLib.SOURCE_CONTINUE

    def on_bus(connection, name):
        bus.append(connection)
        info = Gio.DBusNodeInfo.new_for_xml(XML)
        connection.register_object("/org/freedesktop/Notifications", info.interfaces[0],
                                   on_call, None, None)

    def on_name(connection, name):
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)

    def on_lost(connection, name):
        sys.exit(1)

    Gio.bus_own_name(Gio.BusType.SESSION, "org.freedesktop.Notifications",
                     Gio.BusNameOwnerFlags.NONE, on_bus, on_name, on_lost)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, click_latest)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
