//! `source = "etcd-key"`: primary while `key` holds `value` (Patroni's leader key,
//! vip-manager style), with the same fence as the election: a value read at `t` is believed
//! until `t + TTL − margin`, or sooner when the key's own lease (the holder's) has less left.
//! The key is read every third of the TTL and watched in between, so a change is seen at once.

use super::fence::Fence;
use super::{now, Ctx, Etcd, WatchEvents};
use crate::config::EtcdMode;
use crate::ha::decision::Role;
use crate::wire::text;
use std::time::Duration;

/// Follows the key until the controller goes.
pub async fn run<E: Etcd>(ctx: Ctx<E>) {
    let (key, value) = match &ctx.cfg.mode {
        EtcdMode::Follow { key, value } => (key.clone(), value.clone()),
        EtcdMode::Election { .. } => return,
    };
    let mut fence = Fence::new(ctx.cfg.lease_ttl, ctx.cfg.margin);
    let mut watch: Option<E::Watch> = None;
    loop {
        let sent = now();
        let read = confirm(&ctx, &key).await;
        let next = match read {
            Ok(Read { holder, set_at, left, rev }) => {
                let ours = holder.as_deref() == Some(value.as_bytes());
                fence.kept(sent, left.min(ctx.cfg.lease_ttl));
                let shown = match &holder {
                    Some(v) => format!("\"{}\"", text::escape_at_most(v, 64)),
                    None => "nothing (absent)".into(),
                };
                {
                    let mut s = ctx.state();
                    s.candidacy = if ours { "following: the key names this node".into() } else { "following".into() };
                    s.leader = holder.as_ref().map(|v| text::escape_at_most(v, 64));
                    s.deadline = fence.deadline();
                    s.error = None;
                    s.endpoint = ctx.etcd.endpoint();
                    if ours && s.token != Some(set_at) {
                        s.won += 1;
                    }
                    s.token = ours.then_some(set_at);
                }
                let (role, detail) = match ours {
                    true => (Role::Primary, format!("etcd key {key} holds {shown}")),
                    false => (Role::Standby, format!("etcd key {key} holds {shown}, not \"{value}\"")),
                };
                if !ctx.report(super::election::fenced(role, detail, &fence)).await {
                    return;
                }
                if watch.is_none() {
                    watch = ctx.etcd.watch(key.as_bytes(), rev + 1).await.ok();
                }
                tokio::time::Instant::from_std(fence.next_keep_alive(now()))
            }
            Err(msg) => {
                ctx.note_error(&msg);
                watch = None;
                if !fence.holds(now()) {
                    fence.lost();
                    {
                        let mut s = ctx.state();
                        s.candidacy = format!("etcd unreachable: {msg}");
                        s.deadline = None;
                        s.token = None;
                    }
                    let u = crate::ha::decision::RoleUpdate::new(
                        Role::Unknown,
                        format!("etcd key {key}: not confirmed in time ({msg}): withdrawn (fenced)"),
                    );
                    if !ctx.report(u).await {
                        return;
                    }
                }
                tokio::time::Instant::now() + fence.retry()
            }
        };
        // Until the next read: a watch event (any change of the key) reads at once.
        let woke = async {
            match watch.as_mut() {
                Some(w) => w.next().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let alive = tokio::select! {
            _ = tokio::time::sleep_until(next) => true,
            ok = woke => ok,
        };
        if !alive {
            watch = None;
        }
    }
}

/// What a read of the key says.
struct Read {
    /// Its value (`None`: absent, or its holder's lease is gone).
    holder: Option<Vec<u8>>,
    /// The revision that set it: the fencing token while it names this node.
    set_at: i64,
    /// How long it may be believed: the TTL left of the key's own lease, or the configured TTL
    /// without one.
    left: Duration,
    /// The revision read at (a watch starts after it).
    rev: i64,
}

/// Reads the key (and its lease's time left).
async fn confirm<E: Etcd>(ctx: &Ctx<E>, key: &str) -> Result<Read, String> {
    let limit = ctx.cfg.conn.timeout;
    let timed_out = || format!("no etcd endpoint answered within {} ms", limit.as_millis());
    let (kv, rev) = match tokio::time::timeout(limit, ctx.etcd.get(key.as_bytes())).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(timed_out()),
    };
    let ttl = ctx.cfg.lease_ttl;
    let Some(kv) = kv else { return Ok(Read { holder: None, set_at: 0, left: ttl, rev }) };
    let set_at = kv.mod_revision;
    if kv.lease == 0 {
        return Ok(Read { holder: Some(kv.value), set_at, left: ttl, rev });
    }
    match tokio::time::timeout(limit, ctx.etcd.time_to_live(kv.lease)).await {
        // The holder's lease is gone: the key is about to be deleted.
        Ok(Ok(left)) if left <= 0 => Ok(Read { holder: None, set_at, left: ttl, rev }),
        Ok(Ok(left)) => Ok(Read { holder: Some(kv.value), set_at, left: Duration::from_secs(left as u64), rev }),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(timed_out()),
    }
}
