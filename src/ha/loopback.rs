//! The anycast addresses on the local interface (`[anycast] manage_loopback`, usually `lo`):
//! adds and removes them over rtnetlink (the `rtnetlink` crate; never by running `ip`). Both
//! operations are idempotent — adding an address already there or removing one already gone
//! is success — so the caller can simply state what it wants after a restart. Which addresses
//! should be present is the caller's decision, not this module's (`addrwatch` keeps them
//! there). The interface is found by name; [`Loopback::relink`] finds it again after it was
//! deleted and re-created (a new index).

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::Handle;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::task::JoinHandle;

const EEXIST: i32 = 17;
const EADDRNOTAVAIL: i32 = 99;

/// A netlink connection bound to one interface.
pub struct Loopback {
    handle: Handle,
    conn: JoinHandle<()>,
    index: AtomicU32,
    interface: String,
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

/// The netlink error code of `e`, if it is a kernel NACK.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

/// The index of `interface`.
async fn lookup(handle: &Handle, interface: &str) -> Result<u32, String> {
    let mut links = handle.link().get().match_name(interface.to_string()).execute();
    let link = links.try_next().await.map_err(|e| match errno(&e) {
        Some(19) => format!("interface {interface} does not exist; set [anycast] interface"),
        _ => format!("cannot look up interface {interface}: {e}"),
    })?;
    match link {
        Some(link) => Ok(link.header.index),
        None => Err(format!("interface {interface} does not exist; set [anycast] interface")),
    }
}

fn address_of(m: &AddressMessage) -> Option<IpNet> {
    m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(ip) => IpNet::new(*ip, m.header.prefix_len).ok(),
        _ => None,
    })
}

impl Loopback {
    /// Opens a netlink connection and looks up `interface`.
    pub async fn open(interface: &str) -> Result<Loopback, String> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| format!("cannot open a netlink socket: {e}"))?;
        let conn = tokio::spawn(conn);
        let index = match lookup(&handle, interface).await {
            Ok(i) => i,
            Err(e) => {
                conn.abort();
                return Err(e);
            }
        };
        Ok(Loopback { handle, conn, index: AtomicU32::new(index), interface: interface.to_string() })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The interface index in use.
    pub fn index(&self) -> u32 {
        self.index.load(Ordering::Relaxed)
    }

    /// Looks the interface up by name again; `true` when it now has another index (it was
    /// deleted and re-created).
    pub async fn relink(&self) -> Result<bool, String> {
        let index = lookup(&self.handle, &self.interface).await?;
        Ok(self.index.swap(index, Ordering::Relaxed) != index)
    }

    /// The addresses now on the interface.
    pub async fn addresses(&self) -> Result<Vec<IpNet>, String> {
        let mut s = self.handle.address().get().set_link_index_filter(self.index()).execute();
        let mut out = Vec::new();
        while let Some(m) =
            s.try_next().await.map_err(|e| format!("cannot list addresses of {}: {e}", self.interface))?
        {
            out.extend(address_of(&m));
        }
        Ok(out)
    }

    /// Adds `prefixes` (each as address/len); already present is fine.
    pub async fn add(&self, prefixes: &[IpNet]) -> Result<(), String> {
        for p in prefixes {
            match self.handle.address().add(self.index(), p.addr(), p.prefix_len()).execute().await {
                Ok(()) => tracing::info!(interface = %self.interface, "added {p}"),
                Err(e) if errno(&e) == Some(EEXIST) => {}
                Err(e) => return Err(format!("cannot add {p} to {}: {e}", self.interface)),
            }
        }
        Ok(())
    }

    /// Removes `prefixes`; already absent is fine.
    pub async fn remove(&self, prefixes: &[IpNet]) -> Result<(), String> {
        for p in prefixes {
            let mut s = self
                .handle
                .address()
                .get()
                .set_link_index_filter(self.index())
                .set_address_filter(p.addr())
                .set_prefix_length_filter(p.prefix_len())
                .execute();
            while let Some(m) = s.try_next().await.map_err(|e| format!("cannot list {p} on {}: {e}", self.interface))? {
                match self.handle.address().del(m).execute().await {
                    Ok(()) => tracing::info!(interface = %self.interface, "removed {p}"),
                    Err(e) if errno(&e) == Some(EADDRNOTAVAIL) => {}
                    Err(e) => return Err(format!("cannot remove {p} from {}: {e}", self.interface)),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Runs `f` on a thread of its own in a fresh, unnamed network namespace
    /// (`unshare(CLONE_NEWNET)` affects only the calling thread; the namespace goes with it),
    /// on a current-thread runtime. `None` when it skips ([`crate::test_env`]): not root, and allowed to.
    pub(crate) fn in_throwaway_netns<F: std::future::Future<Output = ()>>(
        f: impl FnOnce() -> F + Send + 'static,
    ) -> Option<()> {
        if crate::test_env::skip_unprivileged("netlink test in a network namespace") {
            return None;
        }
        let t = std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(f());
        });
        t.join().map_err(std::panic::resume_unwind).ok()
    }

    #[test]
    fn adds_and_removes_addresses_idempotently() {
        let _ = in_throwaway_netns(|| async {
            adds_and_removes().await;
        });
    }

    async fn adds_and_removes() {
        let prefixes: Vec<IpNet> = vec!["203.0.113.124/32".parse().unwrap(), "2001:db8::124/128".parse().unwrap()];
        let lo = Loopback::open("lo").await.unwrap();
        lo.add(&prefixes).await.unwrap();
        lo.add(&prefixes).await.unwrap();
        let have = lo.addresses().await.unwrap();
        for p in &prefixes {
            assert!(have.contains(p), "{p} missing from {have:?}");
        }
        lo.remove(&prefixes).await.unwrap();
        lo.remove(&prefixes).await.unwrap();
        let have = lo.addresses().await.unwrap();
        for p in &prefixes {
            assert!(!have.contains(p), "{p} still in {have:?}");
        }
        let missing = Loopback::open("nosuchif0").await.err().unwrap_or_default();
        assert!(missing.contains("does not exist"), "{missing}");
    }
}
