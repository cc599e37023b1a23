//! Connection collision detection (RFC 4271 §6.8, RFC 6286 §2.3): when both speakers connect
//! to each other at once, which of the two connections survives. A pure function of the BGP
//! Identifiers, the AS numbers (tie-break when the identifiers are equal) and who initiated
//! each connection; the caller closes the loser by feeding it `Event::OpenCollisionDump`,
//! which sends Cease / Connection Collision Resolution (6/7).

use super::State;
use std::net::Ipv4Addr;

/// Which side opened a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// We connected out (Event 16, Tcp_CR_Acked).
    Local,
    /// The peer connected in (Event 17, TcpConnectionConfirmed).
    Remote,
}

/// The connection to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Survivor {
    /// The connection that was there first (OpenConfirm, OpenSent or Established).
    Existing,
    /// The connection whose OPEN just arrived.
    New,
}

/// Decides a collision between an `existing` connection (in `existing_state`, opened by
/// `existing_by`) and a new one opened by `new_by`, once the peer's OPEN (hence its BGP
/// Identifier) is known.
///
/// RFC 4271 §6.8: "Unless allowed via configuration, a connection collision with an existing
/// BGP connection that is in the Established state causes closing of the newly created
/// connection." Otherwise the connection initiated by the speaker with the higher BGP
/// Identifier survives (compared as 4-octet unsigned integers); RFC 6286 §2.3: with equal
/// identifiers, the one initiated by the speaker with the larger AS number survives.
pub fn resolve(
    local_id: Ipv4Addr,
    remote_id: Ipv4Addr,
    local_as: u32,
    remote_as: u32,
    existing_state: State,
    existing_by: Initiator,
    new_by: Initiator,
) -> Survivor {
    if existing_state == State::Established || existing_by == new_by {
        // Two connections from the same side are not a §6.8 collision: keep the older one.
        return Survivor::Existing;
    }
    let (l, r) = (u32::from(local_id), u32::from(remote_id));
    let keep_local_initiated = if l != r { l > r } else { local_as > remote_as };
    let keep = if keep_local_initiated { Initiator::Local } else { Initiator::Remote };
    if existing_by == keep {
        Survivor::Existing
    } else {
        Survivor::New
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LO: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const HI: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 200);

    #[test]
    fn higher_identifier_keeps_the_connection_it_initiated() {
        use Initiator::*;
        // We have the higher id: our outbound connection survives, whichever came first.
        assert_eq!(resolve(HI, LO, 65001, 65002, State::OpenConfirm, Local, Remote), Survivor::Existing);
        assert_eq!(resolve(HI, LO, 65001, 65002, State::OpenConfirm, Remote, Local), Survivor::New);
        // Peer has the higher id: its connection survives.
        assert_eq!(resolve(LO, HI, 65001, 65002, State::OpenConfirm, Local, Remote), Survivor::New);
        assert_eq!(resolve(LO, HI, 65001, 65002, State::OpenSent, Remote, Local), Survivor::Existing);
    }

    #[test]
    fn both_ends_agree() {
        use Initiator::*;
        // A (id HI) and B (id LO) each connected out first, then accepted the other's connection.
        let a = resolve(HI, LO, 65001, 65002, State::OpenConfirm, Local, Remote);
        let b = resolve(LO, HI, 65002, 65001, State::OpenConfirm, Local, Remote);
        // Both keep the connection A initiated: A's existing one, B's new (inbound) one.
        assert_eq!((a, b), (Survivor::Existing, Survivor::New));
    }

    #[test]
    fn equal_identifiers_fall_back_to_as_numbers() {
        use Initiator::*;
        assert_eq!(resolve(LO, LO, 65010, 65001, State::OpenConfirm, Local, Remote), Survivor::Existing);
        assert_eq!(resolve(LO, LO, 65001, 65010, State::OpenConfirm, Local, Remote), Survivor::New);
    }

    #[test]
    fn established_always_survives() {
        use Initiator::*;
        assert_eq!(resolve(LO, HI, 65001, 65002, State::Established, Local, Remote), Survivor::Existing);
    }
}
