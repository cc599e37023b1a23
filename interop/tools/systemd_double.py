#!/usr/bin/env python3
"""A D-Bus test double of systemd's Manager and Unit objects, for `systemd` checks in tests and
labs where systemd itself cannot run. Needs Debian's python3-dbus, python3-gi and dbus-daemon.

usage:
  systemd_double.py --bus [--unit NAME=ACTIVE/SUB ...]
      starts a private dbus-daemon of its own (a config written to a temp dir: a unix socket
      there, everything allowed), owns org.freedesktop.systemd1 on it, and prints the bus
      address as its FIRST stdout line once the name is owned (point anycastd at it with
      DBUS_SYSTEM_BUS_ADDRESS=<that line>). The daemon dies with the double (stdin EOF,
      SIGTERM, or the double dying: PR_SET_PDEATHSIG).
  systemd_double.py --address ADDR [--unit ...]
      the same on a bus already running, e.g. one started by hand with
        dbus-daemon --config-file=FILE --print-address --nofork
      where FILE is what `systemd_double.py --print-config DIR` prints. Prints ADDR when ready.

  --unit unbound.service=active/running   a loaded unit and its ActiveState/SubState
                                           (repeatable; default: none)
  --socket PATH                            with --bus: the daemon's socket path (default: a
                                           new temp dir's "bus"), e.g. to restart a bus at the
                                           same address

stdin, one command a line; each answers one line on stdout (flushed) AFTER its signal is sent:
  set UNIT ACTIVE SUB   set the unit's state (loading it when new); emits PropertiesChanged
                        for org.freedesktop.systemd1.Unit, changed {ActiveState, SubState},
                        invalidated [] as systemd does, only while someone is Subscribed
                        (systemd sends unit signals only then) -> "ok"
  unload UNIT           forget the unit (GetUnit answers NoSuchUnit again) -> "ok"
  subscribers           -> the number of current subscribers
  restart               drop every subscription and the bus name, then own it again, as a
                        restarting systemd does -> "ok"
  quit                  (or EOF) stop, and stop the dbus-daemon started with --bus
Anything else answers "error: ...".

Implemented: Manager.GetUnit (NoSuchUnit when not loaded), Manager.LoadUnit (an unknown but
valid name loads as LoadState not-found, inactive/dead, as systemd does; an invalid one is
InvalidArgs), Manager.Subscribe / Unsubscribe (AlreadySubscribed / NotSubscribed; a
subscriber leaving the bus is dropped), and on each unit org.freedesktop.DBus.Properties Get /
GetAll of Id, LoadState, ActiveState, SubState for org.freedesktop.systemd1.Unit.
"""

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import tempfile

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

NAME = "org.freedesktop.systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
PROPS = "org.freedesktop.DBus.Properties"
SUFFIXES = (".service", ".socket", ".target", ".device", ".mount", ".automount", ".swap",
            ".timer", ".path", ".slice", ".scope")

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def unit_path(name):
    """systemd's bus_label_escape: ASCII letters and digits kept, every other byte _xx."""
    out = "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else "_%02x" % b
                  for b in name.encode())
    return "/org/freedesktop/systemd1/unit/" + (out or "_")


def error(name, msg):
    return dbus.exceptions.DBusException(msg, name=name)


class Unit(dbus.service.Object):
    def __init__(self, bus, manager, name, load, active, sub):
        self.manager, self.name = manager, name
        self.load, self.active, self.sub = load, active, sub
        super().__init__(bus, unit_path(name))

    def props(self):
        return {"Id": dbus.String(self.name), "LoadState": dbus.String(self.load),
                "ActiveState": dbus.String(self.active), "SubState": dbus.String(self.sub)}

    @dbus.service.method(PROPS, in_signature="ss", out_signature="v")
    def Get(self, iface, prop):
        if iface not in (UNIT, ""):
            raise error("org.freedesktop.DBus.Error.UnknownInterface", "Unknown interface %s." % iface)
        p = self.props()
        if prop not in p:
            raise error("org.freedesktop.DBus.Error.UnknownProperty", "Unknown property %s." % prop)
        return p[prop]

    @dbus.service.method(PROPS, in_signature="s", out_signature="a{sv}")
    def GetAll(self, iface):
        if iface not in (UNIT, ""):
            return dbus.Dictionary({}, signature="sv")
        return dbus.Dictionary(self.props(), signature="sv")

    @dbus.service.signal(PROPS, signature="sa{sv}as")
    def PropertiesChanged(self, iface, changed, invalidated):
        pass

    def set(self, active, sub):
        self.load, self.active, self.sub = "loaded", active, sub
        if self.manager.subscribers:
            changed = dbus.Dictionary({"ActiveState": dbus.String(active), "SubState": dbus.String(sub)},
                                      signature="sv")
            self.PropertiesChanged(UNIT, changed, dbus.Array([], signature="s"))


class Manager(dbus.service.Object):
    def __init__(self, bus):
        self.bus, self.units, self.subscribers = bus, {}, set()
        super().__init__(bus, "/org/freedesktop/systemd1")
        bus.add_signal_receiver(self.owner_changed, "NameOwnerChanged", "org.freedesktop.DBus",
                                "org.freedesktop.DBus", "/org/freedesktop/DBus")

    def owner_changed(self, name, old, new):
        if not new:
            self.subscribers.discard(name)

    def add(self, name, load, active, sub):
        u = self.units.get(name)
        if u is None:
            u = self.units[name] = Unit(self.bus, self, name, load, active, sub)
        return u

    @dbus.service.method(MANAGER, in_signature="s", out_signature="o")
    def GetUnit(self, name):
        if name not in self.units:
            raise error("org.freedesktop.systemd1.NoSuchUnit", "Unit %s not loaded." % name)
        return dbus.ObjectPath(unit_path(name))

    @dbus.service.method(MANAGER, in_signature="s", out_signature="o")
    def LoadUnit(self, name):
        if not name.endswith(SUFFIXES) or name.startswith(".") or "/" in name:
            raise error("org.freedesktop.DBus.Error.InvalidArgs", "Unit name %s is not valid." % name)
        self.add(name, "not-found", "inactive", "dead")
        return dbus.ObjectPath(unit_path(name))

    @dbus.service.method(MANAGER, in_signature="", out_signature="", sender_keyword="sender")
    def Subscribe(self, sender=None):
        if sender in self.subscribers:
            raise error("org.freedesktop.systemd1.AlreadySubscribed", "Client is already subscribed.")
        self.subscribers.add(sender)

    @dbus.service.method(MANAGER, in_signature="", out_signature="", sender_keyword="sender")
    def Unsubscribe(self, sender=None):
        if sender not in self.subscribers:
            raise error("org.freedesktop.systemd1.NotSubscribed", "Client is not subscribed.")
        self.subscribers.discard(sender)


def die_with_parent():
    # PR_SET_PDEATHSIG = 1: the dbus-daemon gets SIGTERM when the double dies, however it dies.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def start_daemon(socket):
    d = tempfile.mkdtemp(prefix="systemd-double-")
    conf = os.path.join(d, "bus.conf")
    socket = os.path.abspath(socket) if socket else os.path.join(d, "bus")
    with open(conf, "w") as f:
        f.write(CONFIG.format(path=socket))
    p = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--print-address", "--nofork",
                          "--nopidfile", "--nosyslog"],
                         stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    addr = p.stdout.readline().decode().strip()
    if not addr:
        p.wait()
        sys.exit("dbus-daemon did not start (exit %s)" % p.returncode)
    return p, addr, d, socket


def reply(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--bus", action="store_true", help="start a private dbus-daemon")
    g.add_argument("--address", help="use the bus at this address")
    g.add_argument("--print-config", metavar="DIR", help="print a dbus-daemon config for DIR/bus")
    ap.add_argument("--unit", action="append", default=[], metavar="NAME=ACTIVE/SUB")
    ap.add_argument("--socket", metavar="PATH")
    a = ap.parse_args()
    if a.print_config:
        sys.stdout.write(CONFIG.format(path=os.path.join(os.path.abspath(a.print_config), "bus")))
        return
    daemon, tmp, socket = None, None, None
    if a.bus:
        daemon, addr, tmp, socket = start_daemon(a.socket)
    else:
        addr = a.address
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(addr)
    name = dbus.service.BusName(NAME, bus, do_not_queue=True)
    manager = Manager(bus)
    for spec in a.unit:
        unit, _, state = spec.partition("=")
        active, _, sub = state.partition("/")
        manager.add(unit, "loaded", active or "active", sub or "running")
    loop = GLib.MainLoop()

    pending = [b""]

    def run_line(line):
        w = line.split()
        if w == ["quit"]:
            loop.quit()
        elif len(w) == 4 and w[0] == "set":
            manager.add(w[1], "loaded", w[2], w[3]).set(w[2], w[3])
            bus.flush()
            reply("ok")
        elif len(w) == 2 and w[0] == "unload":
            u = manager.units.pop(w[1], None)
            if u is not None:
                u.remove_from_connection()
            reply("ok")
        elif w == ["subscribers"]:
            reply(str(len(manager.subscribers)))
        elif w == ["restart"]:
            manager.subscribers.clear()
            bus.release_name(NAME)
            bus.request_name(NAME, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
            bus.flush()
            reply("ok")
        elif w:
            reply("error: unknown command %r" % line.strip())

    def command(fd, cond):
        # Raw reads (not sys.stdin's buffer, which would hide lines from the main loop).
        data = os.read(fd, 4096)
        if not data:
            loop.quit()
            return False
        pending[0] += data
        *lines, pending[0] = pending[0].split(b"\n")
        for line in lines:
            try:
                run_line(line.decode(errors="replace"))
            except Exception as e:  # a bad line must not stop the double
                reply("error: %s" % e)
        return True

    GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, command)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda *_: (loop.quit(), False)[1])
    reply(addr)
    try:
        loop.run()
    finally:
        del name
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=5)
        if tmp is not None:
            for f in (socket, os.path.join(tmp, "bus.conf")):
                try:
                    os.unlink(f)
                except OSError:
                    pass
            try:
                os.rmdir(tmp)
            except OSError:
                pass


if __name__ == "__main__":
    main()
