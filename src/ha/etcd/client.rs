//! etcd gateway client (HTTP edge).
