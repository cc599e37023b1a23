//! `source = "etcd"`: campaign in an etcd v3 election over a lease; primary while this node's
//! key leads, and only until the fence closes ([`Fence`]). The loop:
//!
//! 1. Not a candidate while a check fails or the service is drained (Standby).
//! 2. Grant a lease; etcd unreachable: Unknown (fail closed), retried.
//! 3. Campaign and keep the lease alive every third of the TTL (retried every tenth after a
//!    failure, the client failing over between endpoints). Won: Primary until the fence, sent
//!    again with each keep-alive. Each keep-alive also asks who leads: the status shows the
//!    leader, and a leader whose key was deleted behind its back stands down.
//! 4. The fence closes (no keep-alive confirmed in TTL − margin): the decider has already
//!    withdrawn on its own timer; the lease is given up and a new one granted.
//! 5. Unfit while holding a lease: resign — once the decision no longer advertises as primary,
//!    revoke the lease, so the next candidate wins at once (no TTL wait).
//!
//! The new leader does not announce before the old lease is gone: etcd deletes the old
//! leader's key only when its lease expires (at etcd, which is after the old leader's own
//! fence closed) or when it is revoked, and a campaign returns only once every earlier key is
//! deleted.

use super::fence::Fence;
use super::{now, sleep, Ctx, Etcd};
use crate::config::EtcdMode;
use crate::ha::decision::{AdvertState, Role, RoleUpdate};
use crate::wire::text;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A campaign request is never dropped on a timer: etcd answers a dropped campaign by
/// resigning its key *after the fact*, which can race a new campaign of the same lease (the new
/// one finds the key, the old one's clean-up then deletes it, and the new one "wins" later with
/// no key: two leaders). It is dropped only once a keep-alive failed (the connection may be stuck
/// to a partitioned member), and sent again this long after, so that etcd's clean-up of the old
/// one has landed first. Every win is then checked with a linearizable read ([`verify`]).
const CAMPAIGN_AGAIN: Duration = Duration::from_millis(300);

/// The longest a resigning leader waits for its decision to stop advertising as primary.
const RESIGN_WAIT: Duration = Duration::from_secs(1);

/// Runs the election until the controller goes.
pub async fn run<E: Etcd>(mut ctx: Ctx<E>) {
    let (election, candidate) = match &ctx.cfg.mode {
        EtcdMode::Election { election, candidate } => (election.clone(), candidate.clone()),
        EtcdMode::Follow { .. } => return,
    };
    loop {
        if !wait_fit(&mut ctx, &election).await {
            return;
        }
        let Some((lease, fence)) = grant(&ctx).await else {
            let why = ctx.state().candidacy.clone();
            if !ctx.report(RoleUpdate::new(Role::Unknown, why)).await {
                return;
            }
            sleep(Fence::new(ctx.cfg.lease_ttl, ctx.cfg.margin).retry()).await;
            continue;
        };
        if !hold(&mut ctx, &election, &candidate, lease, fence).await {
            return;
        }
    }
}

/// Waits until this node is fit to lead, reporting Standby with the reason meanwhile; false
/// when the controller is gone.
async fn wait_fit<E: Etcd>(ctx: &mut Ctx<E>, election: &str) -> bool {
    let mut fit = ctx.fit();
    loop {
        let Some(why) = fit.why_not() else { return true };
        let candidacy = format!("not a candidate: {why}");
        {
            let mut s = ctx.state();
            s.candidacy = candidacy.clone();
            s.token = None;
            s.deadline = None;
        }
        if !ctx.report(RoleUpdate::new(Role::Standby, format!("etcd {election}: {candidacy}"))).await {
            return false;
        }
        if !fit.changed().await {
            return false;
        }
    }
}

/// A new lease and its fence, or `None` (the candidacy says why).
async fn grant<E: Etcd>(ctx: &Ctx<E>) -> Option<(i64, Fence)> {
    let mut fence = Fence::new(ctx.cfg.lease_ttl, ctx.cfg.margin);
    let sent = now();
    let secs = ctx.cfg.lease_ttl.as_secs() as i64;
    match tokio::time::timeout(ctx.cfg.conn.timeout, ctx.etcd.grant(secs)).await {
        Ok(Ok(l)) => {
            fence.granted(sent, Duration::from_secs(l.ttl.max(0) as u64));
            let mut s = ctx.state();
            s.lease = Some(l.id);
            s.error = None;
            s.endpoint = ctx.etcd.endpoint();
            Some((l.id, fence))
        }
        Ok(Err(e)) => {
            let msg = ctx.note_error(&e);
            ctx.state().candidacy = format!("etcd unreachable: {msg}");
            None
        }
        Err(_) => {
            let msg = format!("no etcd endpoint answered a lease grant within {} ms", ctx.cfg.conn.timeout.as_millis());
            ctx.note_error(&msg);
            ctx.state().candidacy = format!("etcd unreachable: {msg}");
            None
        }
    }
}

type Campaign<'a> = Pin<Box<dyn Future<Output = Result<Option<super::api::LeaderKey>, String>> + Send + 'a>>;

/// One campaign request, checked when it returns ([`verify`]): `Ok(None)` when etcd's own read
/// does not show our key leading.
fn campaign<'a, E: Etcd>(ctx: &'a Ctx<E>, election: &'a str, candidate: &'a str, lease: i64) -> Campaign<'a> {
    Box::pin(async move {
        match ctx.etcd.campaign(election.as_bytes(), lease, candidate.as_bytes()).await {
            Ok(k) => verify(ctx, election, k).await,
            Err(e) => Err(e.to_string()),
        }
    })
}

/// A campaign's win, believed only when a linearizable read of the election's leader shows
/// this very key (same key, same create revision): a returned campaign is a hint, the read is
/// the fact. `Ok(None)`: it does not lead.
async fn verify<E: Etcd>(
    ctx: &Ctx<E>,
    election: &str,
    k: super::api::LeaderKey,
) -> Result<Option<super::api::LeaderKey>, String> {
    match tokio::time::timeout(ctx.cfg.conn.timeout, ctx.etcd.leader(election.as_bytes())).await {
        Ok(Ok(Some(kv))) if kv.key == k.key && kv.create_revision == k.rev => Ok(Some(k)),
        Ok(Ok(_)) => {
            tracing::warn!(
                "etcd {election}: the campaign returned but etcd shows another key leading (a dropped campaign's clean-up?): campaigning again"
            );
            Ok(None)
        }
        Ok(Err(e)) => Err(format!("cannot confirm the campaign's win: {e}")),
        Err(_) => Err("cannot confirm the campaign's win: no answer in time".into()),
    }
}

/// Campaigns and leads on `lease` until the lease is lost or this node resigns; false when the
/// controller is gone.
async fn hold<E: Etcd>(ctx: &mut Ctx<E>, election: &str, candidate: &str, lease: i64, mut fence: Fence) -> bool {
    let mut leader: Option<super::api::LeaderKey> = None;
    // The fence closed (withdrawn) while the lease may still live at etcd: keep-alives go on,
    // and a confirmed one (with our key seen leading) resumes the leadership without a new
    // lease — which would queue behind our own old key for a whole TTL.
    let mut closed = false;
    {
        let mut s = ctx.state();
        s.candidacy = "campaigning".into();
        s.deadline = None;
        s.token = None;
    }
    let standby = |leader: &Option<String>, fence: &Fence| {
        let who = leader.as_deref().map_or("no leader yet".to_string(), |l| format!("leader {l}"));
        fenced(Role::Standby, format!("etcd {election}: campaigning, {who}"), fence)
    };
    let primary = |key: &super::api::LeaderKey, fence: &Fence| {
        fenced(Role::Primary, format!("etcd {election}: leader (fencing token {})", key.rev), fence)
    };
    let leader_name = observe(ctx, election).await.map(|(name, _)| name);
    ctx.state().leader = leader_name.clone();
    if !ctx.report(standby(&leader_name, &fence)).await {
        return false;
    }
    let mut camp: Option<Campaign<'_>> = None;
    let mut camp_retry = tokio::time::Instant::now() + ctx.cfg.campaign_delay;
    let mut next_ka = tokio::time::Instant::from_std(fence.next_keep_alive(now()));
    let ctx_ref: &Ctx<E> = ctx;
    // Borrow juggling: the fitness receiver is cloned, the rest of ctx only read.
    let mut fit = ctx_ref.fit();
    loop {
        if leader.is_none() && camp.is_none() && tokio::time::Instant::now() >= camp_retry {
            camp = Some(campaign(ctx_ref, election, candidate, lease));
        }
        let camp_wait = camp_retry;
        tokio::select! {
            _ = tokio::time::sleep_until(next_ka) => {
                let sent = now();
                let r = tokio::time::timeout(ctx_ref.cfg.conn.timeout, ctx_ref.etcd.keep_alive(lease)).await;
                match r {
                    Ok(Ok(ttl)) if ttl > 0 => {
                        fence.kept(sent, Duration::from_secs(ttl as u64));
                        next_ka = tokio::time::Instant::from_std(fence.next_keep_alive(now()));
                        {
                            let mut s = ctx_ref.state();
                            s.error = None;
                            s.endpoint = ctx_ref.etcd.endpoint();
                        }
                        let seen = observe(ctx_ref, election).await;
                        let resumed = std::mem::take(&mut closed);
                        let still = match (&leader, &seen) {
                            (Some(k), Some((_, key))) => key == &k.key,
                            // Not confirmed either way: the fence decides, unless it had closed
                            // (then only a read showing our key resumes the leadership).
                            (Some(_), None) => !resumed,
                            (None, _) => false,
                        };
                        if let Some((name, _)) = &seen {
                            ctx_ref.state().leader = Some(name.clone());
                        }
                        if leader.is_some() && !still {
                            tracing::warn!("etcd {election}: our key no longer leads (deleted behind our back?): standing down");
                            leader = None;
                            camp = None;
                            set_campaigning(ctx_ref);
                        }
                        if resumed {
                            tracing::info!("etcd {election}: lease {lease:x} confirmed again: fence reopened");
                            ctx_ref.state().candidacy = if leader.is_some() { "leader" } else { "campaigning" }.into();
                        }
                        let u = match &leader {
                            Some(k) => {
                                ctx_ref.state().deadline = fence.deadline();
                                primary(k, &fence)
                            }
                            None => standby(&ctx_ref.state().leader, &fence),
                        };
                        if !ctx_ref.report(u).await {
                            return false;
                        }
                    }
                    Ok(Ok(_)) => {
                        fence.lost();
                        let what = format!("lease {lease:x} expired or was revoked at etcd");
                        tracing::warn!("etcd {election}: {what}");
                        return lost(ctx_ref, election, &what).await;
                    }
                    failed => {
                        let msg = match failed {
                            Ok(Err(e)) => ctx_ref.note_error(&e),
                            _ => ctx_ref.note_error(&format!("keep-alive timed out after {} ms", ctx_ref.cfg.conn.timeout.as_millis())),
                        };
                        if !fence.holds(now()) && !closed {
                            closed = true;
                            let what = format!("lease {lease:x} not confirmed in time ({msg})");
                            tracing::warn!("etcd {election}: {what}: fenced; still trying to keep it alive");
                            if !fence_closed(ctx_ref, election, &what).await {
                                return false;
                            }
                        }
                        next_ka = tokio::time::Instant::now() + fence.retry();
                        // Its connection may be stuck to the member that stopped answering.
                        if camp.take().is_some() {
                            camp_retry = tokio::time::Instant::now() + CAMPAIGN_AGAIN;
                        }
                    }
                }
            }
            r = async {
                match camp.as_mut() {
                    Some(c) => c.await,
                    None => std::future::pending().await,
                }
            }, if camp.is_some() => {
                camp = None;
                match r {
                    Ok(Some(k)) => {
                        if !fence.holds(now()) {
                            // Won on a lease we cannot vouch for: the keep-alive decides next,
                            // and the campaign is asked again only after a pause.
                            camp_retry = tokio::time::Instant::now() + fence.retry();
                            continue;
                        }
                        tracing::info!("etcd {election}: elected leader (fencing token {})", k.rev);
                        {
                            let mut s = ctx_ref.state();
                            s.candidacy = "leader".into();
                            s.token = Some(k.rev);
                            s.leader = Some(candidate.to_string());
                            s.deadline = fence.deadline();
                            s.won += 1;
                        }
                        let u = primary(&k, &fence);
                        leader = Some(k);
                        if !ctx_ref.report(u).await {
                            return false;
                        }
                    }
                    Ok(None) => camp_retry = tokio::time::Instant::now() + CAMPAIGN_AGAIN,
                    Err(e) => {
                        ctx_ref.note_error(&e);
                        camp_retry = tokio::time::Instant::now() + fence.retry();
                    }
                }
            }
            _ = tokio::time::sleep_until(camp_wait), if leader.is_none() && camp.is_none() => {}
            alive = fit.changed() => {
                if !alive {
                    return false;
                }
                if let Some(why) = fit.why_not() {
                    return resign(ctx_ref, election, lease, leader.is_some(), &why).await;
                }
            }
        }
    }
}

/// `role` honoured until the fence closes; Unknown when it is closed already (a role without
/// an `until` would be honoured for ever).
pub fn fenced(role: Role, detail: String, fence: &Fence) -> RoleUpdate {
    match fence.deadline() {
        Some(until) if fence.holds(now()) => RoleUpdate { role, detail, until: Some(until) },
        _ => RoleUpdate::new(Role::Unknown, format!("{detail}; lease not confirmed: fenced")),
    }
}

fn set_campaigning<E: Etcd>(ctx: &Ctx<E>) {
    let mut s = ctx.state();
    s.candidacy = "campaigning".into();
    s.token = None;
    s.deadline = None;
}

/// Who leads `election` now (name and key), or `None` when not known.
async fn observe<E: Etcd>(ctx: &Ctx<E>, election: &str) -> Option<(String, Vec<u8>)> {
    match tokio::time::timeout(ctx.cfg.conn.timeout, ctx.etcd.leader(election.as_bytes())).await {
        Ok(Ok(Some(kv))) => Some((text::escape_at_most(&kv.value, 64), kv.key)),
        _ => None,
    }
}

/// The fence closed: Unknown while the keep-alives go on. The decider has withdrawn already
/// (its own timer); this only says why.
async fn fence_closed<E: Etcd>(ctx: &Ctx<E>, election: &str, what: &str) -> bool {
    {
        let mut s = ctx.state();
        s.candidacy = format!("etcd unreachable: {what}");
        s.token = None;
        s.deadline = None;
    }
    ctx.report(RoleUpdate::new(Role::Unknown, format!("etcd {election}: {what}: withdrawn (fenced)"))).await
}

/// The lease is gone or fenced: Unknown until a new lease is granted. The decider has
/// withdrawn already when the fence closed (its own timer); this only says why.
async fn lost<E: Etcd>(ctx: &Ctx<E>, election: &str, what: &str) -> bool {
    ctx.state().lease = None;
    fence_closed(ctx, election, what).await
}

/// Gives up the lease: waits (at most [`RESIGN_WAIT`]) until the decision no longer advertises
/// as primary, then revokes it, so that the next candidate wins at once.
async fn resign<E: Etcd>(ctx: &Ctx<E>, election: &str, lease: i64, leading: bool, why: &str) -> bool {
    if !ctx.report(RoleUpdate::new(Role::Standby, format!("etcd {election}: resigning: {why}"))).await {
        return false;
    }
    if leading {
        let mut decision = ctx.decision.clone();
        let done = decision.wait_for(|d| d.state != AdvertState::Advertising);
        let _ = tokio::time::timeout(RESIGN_WAIT, done).await;
    }
    match tokio::time::timeout(ctx.cfg.conn.timeout, ctx.etcd.revoke(lease)).await {
        Ok(Ok(())) => tracing::info!("etcd {election}: resigned ({why}): lease {lease:x} revoked"),
        Ok(Err(e)) => tracing::warn!("etcd {election}: resigning ({why}): cannot revoke lease {lease:x}: {e}"),
        Err(_) => tracing::warn!("etcd {election}: resigning ({why}): revoking lease {lease:x} timed out"),
    }
    let mut s = ctx.state();
    s.lease = None;
    s.token = None;
    s.deadline = None;
    true
}
