//! What every neighbor follows: each service's advertisement, by service name. Services own
//! disjoint prefixes (`check-config` refuses a prefix in two), so a neighbor's routes are the
//! union of each service's routes through its export policy, and a change of one service
//! changes only that service's prefixes in the routes — the session's diff then sends UPDATEs
//! for those alone, and nothing for the others.

use crate::ha::decision::Advert;
use crate::session::policy::ExportPolicy;
use crate::session::Routes;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Adverts {
    by_service: BTreeMap<String, Advert>,
}

impl Adverts {
    /// One service's advertisement alone.
    pub fn one(service: &str, a: Advert) -> Self {
        let mut s = Adverts::default();
        s.set(service, a);
        s
    }

    /// Replaces `service`'s advertisement; whether anything changed. Advertising nothing
    /// removes the entry (a service gone from the config leaves no trace).
    pub fn set(&mut self, service: &str, a: Advert) -> bool {
        if a == Advert::nothing() {
            return self.by_service.remove(service).is_some();
        }
        if self.by_service.get(service) == Some(&a) {
            return false;
        }
        self.by_service.insert(service.to_string(), a);
        true
    }

    /// `service`'s advertisement (nothing when it has none).
    pub fn get(&self, service: &str) -> Advert {
        self.by_service.get(service).cloned().unwrap_or_default()
    }

    /// Keeps only the services `keep` says to keep (a reload removed the others).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) -> bool {
        let before = self.by_service.len();
        self.by_service.retain(|k, _| keep(k));
        before != self.by_service.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Advert)> {
        self.by_service.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The routes `policy` makes of every service's advertisement.
    pub fn routes(&self, policy: &ExportPolicy) -> Routes {
        let mut out = Routes::new();
        for a in self.by_service.values() {
            for (p, attrs) in policy.routes(&a.as_announce()).iter() {
                out.insert(*p, attrs.clone());
            }
        }
        out
    }
}
