//! BFD's UDP sockets (RFC 5881 §4–5, RFC 5883 §5).
