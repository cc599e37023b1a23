//! `systemd` checks: a unit's ActiveState over D-Bus, from systemd itself (no `systemctl`).
//!
//! The probe connects to the system bus (`$DBUS_SYSTEM_BUS_ADDRESS` when set, else systemd's
//! socket), asks the Manager for the unit's object (`GetUnit`, then `LoadUnit` when it is not
//! loaded) and reads its `LoadState`, `ActiveState` and `SubState` in one `GetAll`. Healthy:
//! `active` and `reloading`; anything else (failed, inactive, activating, deactivating, a unit
//! that does not exist, a bus that does not answer) is a failure whose detail says which. The
//! whole query is bounded by the check's timeout; a connection per probe (a few round trips at
//! the check's interval; nothing to keep alive or to repair between probes).
//!
//! The watcher has a connection of its own per check (its subscription and match rules live and
//! die with it): it calls `Manager.Subscribe` (systemd sends unit signals only while someone is
//! subscribed) and matches `PropertiesChanged` of the unit's object path for the interface
//! `org.freedesktop.systemd1.Unit`, from systemd's bus name only. A signal whose new
//! ActiveState is `failed`, `inactive` or `deactivating` is a failed outcome at once (the signal
//! says it); any other signal wakes the probe. When the bus goes away, or systemd's name changes
//! owner (a restart drops every subscription), the watcher reconnects after [`RETRY`]; the
//! check's poll covers the time in between. The pure parts (object path, verdict, what a
//! signal says) are functions without I/O, tested without a bus.

use super::{said, send, Wake, Watch, QUEUE};
use crate::ha::probe::ProbeOutcome;
use crate::wire::text::escape_at_most;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zbus::{Connection, MatchRule, MessageStream};

/// The system bus when `$DBUS_SYSTEM_BUS_ADDRESS` is not set (the D-Bus specification's default).
pub const DEFAULT_SYSTEM_BUS: &str = "unix:path=/var/run/dbus/system_bus_socket";
/// How long the watcher waits before connecting again when the bus is gone or refused it.
pub const RETRY: Duration = Duration::from_secs(1);
/// At most this long to connect, match and subscribe, before trying again.
const SETUP: Duration = Duration::from_secs(5);

const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const UNIT: &str = "org.freedesktop.systemd1.Unit";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";
/// At most this many characters of a bus-supplied state, before escaping.
const STATE_CHARS: usize = 32;
/// At most this many characters of a bus-supplied error.
const ERROR_CHARS: usize = 160;

/// The system bus address: `$DBUS_SYSTEM_BUS_ADDRESS` when set, else [`DEFAULT_SYSTEM_BUS`].
pub fn system_bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| DEFAULT_SYSTEM_BUS.to_string())
}

/// Whether `unit` is active, on the system bus. See [`probe_at`].
pub async fn probe(unit: &str, timeout: Duration) -> (bool, String) {
    probe_at(&system_bus_address(), unit, timeout).await
}

/// Whether `unit` is active (or reloading), asking the systemd on the bus at `address`, all
/// within `timeout`: `(ok, detail)` with a detail such as "unbound.service is inactive (dead)".
pub async fn probe_at(address: &str, unit: &str, timeout: Duration) -> (bool, String) {
    match tokio::time::timeout(timeout, query(address, unit)).await {
        Ok(Ok(state)) => verdict(unit, &state),
        Ok(Err(e)) => (false, e),
        Err(_) => (false, format!("asking systemd about {unit} timed out after {} ms", timeout.as_millis())),
    }
}

/// What systemd says of a unit (as sent, not yet escaped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitState {
    pub load: String,
    pub active: String,
    pub sub: String,
}

/// The verdict on `state`: healthy when active or reloading. Bus strings are escaped.
pub fn verdict(unit: &str, state: &UnitState) -> (bool, String) {
    let esc = |s: &str| escape_at_most(s.as_bytes(), STATE_CHARS);
    if state.load == "not-found" {
        return (false, format!("{unit}: no such unit (not-found)"));
    }
    let ok = matches!(state.active.as_str(), "active" | "reloading");
    (ok, format!("{unit} is {} ({})", esc(&state.active), esc(&state.sub)))
}

/// The object path systemd gives `unit`: `/org/freedesktop/systemd1/unit/` and the name with
/// every byte but ASCII letters and digits written `_xx` (lowercase hex), as systemd's
/// `bus_label_escape` does ("unbound.service" → `…/unit/unbound_2eservice`).
pub fn unit_path(unit: &str) -> String {
    let mut p = String::from("/org/freedesktop/systemd1/unit/");
    if unit.is_empty() {
        p.push('_');
    }
    for b in unit.bytes() {
        if b.is_ascii_alphanumeric() {
            p.push(char::from(b));
        } else {
            p.push_str(&format!("_{b:02x}"));
        }
    }
    p
}

/// What a `PropertiesChanged` signal of `unit` says: a failed outcome when its new ActiveState
/// is failed, inactive or deactivating; `None` (run the probe) for any other change.
pub fn signal_outcome(unit: &str, changed: &HashMap<String, OwnedValue>) -> Option<ProbeOutcome> {
    let active = changed.get("ActiveState").and_then(|v| str_of(v))?;
    if !matches!(active, "failed" | "inactive" | "deactivating") {
        return None;
    }
    let sub = changed.get("SubState").and_then(|v| str_of(v)).unwrap_or("?");
    let state = UnitState { load: String::new(), active: active.to_string(), sub: sub.to_string() };
    let (_, detail) = verdict(unit, &state);
    Some(said(false, format!("{detail} (D-Bus signal)")))
}

fn str_of<'a>(v: &'a Value<'_>) -> Option<&'a str> {
    match v {
        Value::Str(s) => Some(s.as_str()),
        _ => None,
    }
}

/// A zbus error as a detail: a D-Bus error's name and message, escaped and bounded.
fn bus_error(e: &zbus::Error) -> String {
    let s = match e {
        zbus::Error::MethodError(name, Some(msg), _) => format!("{}: {msg}", name.as_str()),
        zbus::Error::MethodError(name, None, _) => name.as_str().to_string(),
        other => other.to_string(),
    };
    escape_at_most(s.as_bytes(), ERROR_CHARS)
}

async fn connect(address: &str) -> Result<Connection, String> {
    let unreachable = |e: zbus::Error| format!("cannot reach the system bus: {}", bus_error(&e));
    zbus::connection::Builder::address(address).map_err(unreachable)?.build().await.map_err(unreachable)
}

/// The unit's object path: `GetUnit`, or `LoadUnit` when systemd has not loaded it.
async fn unit_object(conn: &Connection, unit: &str) -> Result<OwnedObjectPath, String> {
    let body = (unit,);
    let call = |method: &'static str| conn.call_method(Some(SYSTEMD), MANAGER_PATH, Some(MANAGER), method, &body);
    let reply = match call("GetUnit").await {
        Err(zbus::Error::MethodError(name, _, _)) if name.as_str() == NO_SUCH_UNIT => call("LoadUnit").await,
        other => other,
    };
    let failed = |e: zbus::Error| format!("asking systemd for {unit}: {}", bus_error(&e));
    reply.map_err(failed)?.body().deserialize::<OwnedObjectPath>().map_err(failed)
}

async fn query(address: &str, unit: &str) -> Result<UnitState, String> {
    let conn = connect(address).await?;
    let path = unit_object(&conn, unit).await?;
    let failed = |e: zbus::Error| format!("reading the state of {unit}: {}", bus_error(&e));
    let reply =
        conn.call_method(Some(SYSTEMD), path.as_str(), Some(PROPERTIES), "GetAll", &(UNIT,)).await.map_err(failed)?;
    let props: HashMap<String, OwnedValue> = reply.body().deserialize().map_err(failed)?;
    let get = |k: &str| props.get(k).and_then(|v| str_of(v)).unwrap_or_default().to_string();
    Ok(UnitState { load: get("LoadState"), active: get("ActiveState"), sub: get("SubState") })
}

/// The watcher of `unit`, on the system bus. Must be called inside a tokio runtime.
pub fn watch(unit: &str) -> Option<Watch> {
    Some(watch_at(system_bus_address(), unit))
}

/// The watcher of `unit` on the bus at `address`. Must be called inside a tokio runtime.
pub fn watch_at(address: String, unit: &str) -> Watch {
    let (tx, rx) = mpsc::channel(QUEUE);
    let task = tokio::spawn(run(address, unit.to_string(), tx));
    Watch::new(rx, task)
}

/// Why a watch ended.
enum End {
    /// The check is gone: stop.
    CheckGone,
    /// The bus or systemd went away, or refused: connect again later.
    Lost,
}

async fn run(address: String, unit: String, tx: mpsc::Sender<Wake>) {
    loop {
        if let End::CheckGone = watch_once(&address, &unit, &tx).await {
            return;
        }
        // Do not spin while the bus stays away.
        tokio::time::sleep(RETRY).await;
    }
}

/// Connects, matches the unit's signals and subscribes: the connection (kept: the subscription
/// lives as long as it) and its two signal streams.
async fn subscribe(address: &str, unit: &str) -> Option<(Connection, MessageStream, MessageStream)> {
    let conn = connect(address).await.ok()?;
    let (changes, owner) = streams(&conn, unit).await.ok()?;
    // Subscribe after the match rules are in place, so that no signal falls in between.
    conn.call_method(Some(SYSTEMD), MANAGER_PATH, Some(MANAGER), "Subscribe", &()).await.ok()?;
    Some((conn, changes, owner))
}

/// One connection's watch, until the bus or systemd goes away.
async fn watch_once(address: &str, unit: &str, tx: &mpsc::Sender<Wake>) -> End {
    // A bus that accepts but never answers must not hold the watcher forever.
    let Ok(Some((_conn, mut changes, mut owner))) = tokio::time::timeout(SETUP, subscribe(address, unit)).await else {
        return End::Lost;
    };
    // The unit may have changed while nothing watched it.
    if !send(tx, None).await {
        return End::CheckGone;
    }
    loop {
        tokio::select! {
            m = changes.next() => {
                let Some(Ok(m)) = m else { return End::Lost };
                let outcome = match m.body().deserialize::<(String, HashMap<String, OwnedValue>, Vec<String>)>() {
                    Ok((_, changed, _)) => signal_outcome(unit, &changed),
                    Err(_) => None,
                };
                if !send(tx, outcome).await {
                    return End::CheckGone;
                }
            }
            m = owner.next() => {
                // systemd restarted or left the bus: its subscriptions are gone with it.
                let _ = m;
                return if send(tx, None).await { End::Lost } else { End::CheckGone };
            }
        }
    }
}

/// The unit's `PropertiesChanged` signals (from systemd's name only: the bus filters on the
/// sender), and changes of owner of systemd's name.
async fn streams(conn: &Connection, unit: &str) -> zbus::Result<(MessageStream, MessageStream)> {
    let changes = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(SYSTEMD)?
        .path(unit_path(unit))?
        .interface(PROPERTIES)?
        .member("PropertiesChanged")?
        .arg(0, UNIT)?
        .build();
    let owner = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender("org.freedesktop.DBus")?
        .path("/org/freedesktop/DBus")?
        .interface("org.freedesktop.DBus")?
        .member("NameOwnerChanged")?
        .arg(0, SYSTEMD)?
        .build();
    Ok((
        MessageStream::for_match_rule(changes, conn, Some(QUEUE)).await?,
        MessageStream::for_match_rule(owner, conn, Some(QUEUE)).await?,
    ))
}

#[cfg(test)]
mod pure {
    use super::*;

    #[test]
    fn unit_paths_escape_like_systemd() {
        assert_eq!(unit_path("unbound.service"), "/org/freedesktop/systemd1/unit/unbound_2eservice");
        assert_eq!(unit_path("a-b@1.service"), "/org/freedesktop/systemd1/unit/a_2db_401_2eservice");
        assert_eq!(unit_path(""), "/org/freedesktop/systemd1/unit/_");
        assert!(zbus::zvariant::ObjectPath::try_from(unit_path("é x/\0.service")).is_ok());
    }

    #[test]
    fn only_active_and_reloading_are_healthy() {
        let s = |a: &str, b: &str| UnitState { load: "loaded".into(), active: a.into(), sub: b.into() };
        assert_eq!(verdict("u.service", &s("active", "running")), (true, "u.service is active (running)".into()));
        assert!(verdict("u", &s("reloading", "reload")).0);
        for a in ["failed", "inactive", "activating", "deactivating", "", "x"] {
            assert!(!verdict("u", &s(a, "y")).0, "{a}");
        }
        assert_eq!(verdict("u.service", &s("inactive", "dead")).1, "u.service is inactive (dead)");
        let gone = UnitState { load: "not-found".into(), active: "inactive".into(), sub: "dead".into() };
        assert_eq!(verdict("u.service", &gone), (false, "u.service: no such unit (not-found)".into()));
        // Bus strings are escaped and bounded.
        let (_, d) = verdict("u", &s("inac\ntive\x1b[2J", &"z".repeat(500)));
        assert!(!d.contains('\n') && !d.contains('\x1b') && d.len() < 120, "{d}");
    }

    #[test]
    fn a_signal_fails_at_once_only_for_stopping_states() {
        let m = |a: &str| {
            HashMap::from([
                ("ActiveState".to_string(), OwnedValue::from(zbus::zvariant::Str::from(a.to_string()))),
                ("SubState".to_string(), OwnedValue::from(zbus::zvariant::Str::from("dead".to_string()))),
            ])
        };
        for a in ["failed", "inactive", "deactivating"] {
            let o = signal_outcome("u.service", &m(a)).expect("a failed outcome");
            assert!(!o.ok && o.detail.starts_with(&format!("u.service is {a} (dead)")), "{o:?}");
        }
        for a in ["active", "activating", "reloading"] {
            assert_eq!(signal_outcome("u", &m(a)), None, "{a}");
        }
        assert_eq!(signal_outcome("u", &HashMap::new()), None);
    }
}
