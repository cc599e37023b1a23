//! etcd gateway messages (pure).
