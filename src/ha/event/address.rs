//! `address` checks: the address is on its interface and the interface is up (`IFF_UP`), as
//! rtnetlink says (the `rtnetlink` crate, as in `loopback.rs`; never by running `ip`).
//!
//! The watcher holds one netlink socket joined to the IPv4 and IPv6 address groups and the
//! link group (`addrwatch::subscribe`), which also answers its interface lookups. The deletion
//! of exactly our address on our interface, the interface going down or away: a [`Wake`] with
//! a failed outcome at once. Any other address or link message about the interface (an
//! address added, the link up again, re-created under the same name): a wake without one, and
//! the probe looks. Messages about other interfaces are ignored. Lost notifications (the
//! socket's buffer overflowed) wake the check and look the interface up again; a broken
//! socket is opened again every [`RETRY`].
//!
//! [`classify`] decides what a message means, without IO.

use super::{said, send, Wake, Watch, QUEUE};
use crate::ha::addrwatch;
use futures_util::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::Handle;
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long to wait before opening the notification socket again.
const RETRY: Duration = Duration::from_secs(1);
/// `ENODEV`: the kernel's answer to a lookup of a name no interface has.
const ENODEV: i32 = 19;

/// Whether `address` is on `interface` and the interface is up.
pub async fn probe(address: IpAddr, interface: &str, timeout: Duration) -> (bool, String) {
    let (conn, handle, _) = match rtnetlink::new_connection() {
        Ok(c) => c,
        Err(e) => return (false, format!("cannot open a netlink socket: {e}")),
    };
    let conn = tokio::spawn(conn);
    let seen = tokio::time::timeout(timeout, look(&handle, address, interface)).await;
    conn.abort();
    match seen {
        Ok(Ok(s)) => s.verdict(address, interface),
        Ok(Err(e)) => (false, e),
        Err(_) => (false, format!("looking for {address} on {interface} timed out after {} ms", timeout.as_millis())),
    }
}

/// The interface as netlink shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Link {
    index: u32,
    up: bool,
}

/// What netlink says now: the interface (`None`: there is none of that name) and whether the
/// address is on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    link: Option<Link>,
    present: bool,
}

impl Seen {
    fn verdict(self, address: IpAddr, interface: &str) -> (bool, String) {
        match self.link {
            None => (false, format!("interface {interface} does not exist")),
            Some(Link { up: false, .. }) => (false, format!("interface {interface} is down")),
            Some(_) if !self.present => (false, format!("{address} is not on {interface}")),
            Some(_) => (true, format!("{address} is on {interface}, which is up")),
        }
    }
}

/// The interface named `interface`, `None` when there is none.
async fn link(handle: &Handle, interface: &str) -> Result<Option<Link>, String> {
    let mut links = handle.link().get().match_name(interface.to_string()).execute();
    match links.try_next().await {
        Ok(Some(l)) => Ok(Some(Link { index: l.header.index, up: l.header.flags.contains(LinkFlags::Up) })),
        Ok(None) => Ok(None),
        Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code().abs() == ENODEV => Ok(None),
        Err(e) => Err(format!("cannot look up interface {interface}: {e}")),
    }
}

async fn look(handle: &Handle, address: IpAddr, interface: &str) -> Result<Seen, String> {
    let Some(l) = link(handle, interface).await? else { return Ok(Seen { link: None, present: false }) };
    let mut addrs = handle.address().get().set_link_index_filter(l.index).execute();
    while let Some(m) = addrs.try_next().await.map_err(|e| format!("cannot list the addresses of {interface}: {e}"))? {
        if holds(&m, address) {
            return Ok(Seen { link: Some(l), present: true });
        }
    }
    Ok(Seen { link: Some(l), present: false })
}

/// Whether the address message is about `address` (its local address, or for IPv6 its only one).
fn holds(m: &AddressMessage, address: IpAddr) -> bool {
    m.attributes.iter().any(|a| matches!(a, AddressAttribute::Address(x) | AddressAttribute::Local(x) if *x == address))
}

fn link_name(l: &LinkMessage) -> Option<&str> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// What a notification means for the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Meaning {
    /// About something else.
    Other,
    /// About the interface: the probe should look.
    Changed,
    /// The check fails, for this reason.
    Failed(String),
    /// Notifications were lost: look the interface up again, and look.
    Overrun,
}

/// What `m` means for `address` on `interface`, whose index is `index` when known (a link
/// message of that name sets it: the interface may have been re-created; its removal clears
/// it).
pub(super) fn classify(
    m: &NetlinkMessage<RouteNetlinkMessage>,
    address: IpAddr,
    interface: &str,
    index: &mut Option<u32>,
) -> Meaning {
    let ours = |i: u32| *index == Some(i);
    match &m.payload {
        NetlinkPayload::Overrun(_) => Meaning::Overrun,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(a)) if ours(a.header.index) => {
            if holds(a, address) {
                Meaning::Failed(format!("{address} was removed from {interface}"))
            } else {
                Meaning::Changed
            }
        }
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) if ours(a.header.index) => Meaning::Changed,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
            let named = link_name(l) == Some(interface);
            if named {
                *index = Some(l.header.index);
            } else if ours(l.header.index) {
                // Renamed: the probe finds no interface of that name.
                *index = None;
                return Meaning::Changed;
            } else {
                return Meaning::Other;
            }
            if l.header.flags.contains(LinkFlags::Up) {
                Meaning::Changed
            } else {
                Meaning::Failed(format!("interface {interface} is down"))
            }
        }
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l))
            if ours(l.header.index) || link_name(l) == Some(interface) =>
        {
            *index = None;
            Meaning::Failed(format!("interface {interface} was removed"))
        }
        _ => Meaning::Other,
    }
}

/// The watcher of `address` on `interface`. Must be called inside a tokio runtime.
pub fn watch(address: IpAddr, interface: &str) -> Option<Watch> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let task = tokio::spawn(run(address, interface.to_string(), tx));
    Some(Watch::new(rx, task))
}

async fn run(address: IpAddr, interface: String, tx: mpsc::Sender<Wake>) {
    loop {
        let Ok(mut events) = addrwatch::subscribe() else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        // Subscribed before the lookup, so no change in between is missed; the check looks
        // once the watch is in place.
        let mut index = link(&events.handle, &interface).await.ok().flatten().map(|l| l.index);
        if !send(&tx, None).await {
            return;
        }
        while let Some((m, _)) = events.rx.next().await {
            let outcome = match classify(&m, address, &interface, &mut index) {
                Meaning::Other => continue,
                Meaning::Changed => None,
                Meaning::Failed(why) => Some(said(false, why)),
                Meaning::Overrun => {
                    index = link(&events.handle, &interface).await.ok().flatten().map(|l| l.index);
                    None
                }
            };
            if !send(&tx, outcome).await {
                return;
            }
        }
        // The socket broke: do not spin while it cannot be opened.
        tokio::time::sleep(RETRY).await;
    }
}
