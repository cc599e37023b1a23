//! Values the session's tests and its fuzz driver share: a session config from plain numbers
//! and the attributes of the routes they announce. Compiled for tests and for the `fuzzing`
//! feature only, never into the shipped daemon.

use super::SessionConfig;
use crate::types::{Asn, RouterId};
use crate::wire::attr::Origin;
use crate::wire::build::RouteAttrs;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A session config from plain numbers (which must be valid: this is test code).
pub fn config(local_as: u32, remote_as: u32, router_id: Ipv4Addr) -> SessionConfig {
    let valid = "test values are valid AS numbers and identifiers";
    SessionConfig::new(
        Asn::new(local_as).expect(valid),
        Asn::new(remote_as).expect(valid),
        RouterId::new(router_id).expect(valid),
    )
}

/// The attributes of the routes every session test and the fuzz target announce.
pub fn attrs() -> RouteAttrs {
    RouteAttrs {
        origin: Origin::Igp,
        as_path: vec![65001],
        med: None,
        local_pref: None,
        communities: vec![],
        large_communities: vec![],
        next_hop_v4: Some(Ipv4Addr::new(192, 0, 2, 1)),
        next_hop_v6: Some((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), None)),
    }
}
