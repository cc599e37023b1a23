//! BFD's UDP sockets (RFC 5881 §4–5, RFC 5883 §5). PLACEHOLDER: replaced by the bfd-sock branch.
#![allow(dead_code, unused_variables)]
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

pub const PORT_SINGLE_HOP: u16 = 3784;
pub const PORT_MULTIHOP: u16 = 4784;
pub const SOURCE_PORTS: RangeInclusive<u16> = 49152..=65535;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SocketError(String);

pub struct TxSocket;
impl TxSocket {
    pub fn bind(local: IpAddr, first_try: u16) -> Result<TxSocket, SocketError> {
        Err(SocketError("placeholder".into()))
    }
    pub fn local_port(&self) -> u16 {
        0
    }
    pub fn send_to(&self, payload: &[u8], remote: SocketAddr) -> Result<bool, SocketError> {
        Ok(false)
    }
}
pub struct RxSocket;
pub struct Datagram {
    pub len: usize,
    pub src: SocketAddr,
    pub ttl: Option<u8>,
    pub dst: Option<IpAddr>,
    pub truncated: bool,
}
impl RxSocket {
    pub fn bind(local: IpAddr, multihop: bool) -> Result<RxSocket, SocketError> {
        Err(SocketError("placeholder".into()))
    }
    pub fn local(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0)
    }
    pub async fn recv(&self, buf: &mut [u8]) -> Result<Datagram, SocketError> {
        std::future::pending().await
    }
}
pub fn ttl_acceptable(multihop: bool, authenticated: bool, ttl: Option<u8>) -> bool {
    false
}
