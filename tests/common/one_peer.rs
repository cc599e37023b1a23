//! One active [`Speaker`] toward one scripted raw peer on loopback, brought to Established:
//!
//! ```text
//!   anycastd Speaker <local> (AS 65124, active, listen = false)  ──▶  raw peer <peer>:<os port> (AS 65000)
//! ```

use super::bgp_bytes::peer_open;
use super::raw_peer::{Peer, STEP};
use anycastd::config::Config;
use anycastd::ha::Advert;
use anycastd::speaker::Speaker;
use std::net::Ipv4Addr;
use std::path::Path;
use tokio::net::TcpListener;

/// Starts the speaker (announcing 203.0.113.124/32) and establishes the session with the peer.
pub async fn established(local: Ipv4Addr, peer: Ipv4Addr) -> (Speaker, Peer) {
    let l = TcpListener::bind((peer, 0)).await.expect("bind the raw peer");
    let port = l.local_addr().expect("raw peer address").port();
    let text = format!(
        "[bgp]\nlocal_as = 65124\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nhold_time = 9\n\
         connect_retry = 1\nlisten = false\n\
         [[bgp.neighbor]]\nremote_ip = \"{peer}\"\nremote_as = 65000\nport = {port}\n\
         [anycast]\nprefixes = [\"203.0.113.124/32\"]\n"
    );
    let cfg = Config::from_str(&text, Path::new("one_peer.toml")).unwrap_or_else(|e| panic!("config: {e}"));
    let sp = Speaker::start(&cfg, Advert::announce(cfg.anycast.prefixes.clone())).await.expect("speaker");
    let mut p = Peer::accept(&l, STEP, "raw").await.unwrap_or_else(|e| panic!("{e}"));
    p.establish(&peer_open(65000, 9, [198, 51, 100, 2])).await.unwrap_or_else(|e| panic!("{e}"));
    (sp, p)
}
