//! `[role] source = "etcd"` and `"etcd-key"`: who is primary, decided by etcd, and fenced by
//! the lease. `api` is the pure part of etcd's JSON gateway (request bodies, response
//! parsing), `client` its HTTP edge, `fence` the pure deadline rule (primary only until the
//! last confirmed keep-alive + TTL − margin).

pub mod api;
pub mod client;
pub mod client_http;
#[cfg(test)]
mod client_tests;
