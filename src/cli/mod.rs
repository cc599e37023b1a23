//! Operator commands other than the daemon itself. Each submodule owns one command's logic and
//! output; `main.rs` only parses arguments and maps results to exit codes.

pub mod bgp;
pub mod client;
pub mod decode;
pub mod locate;
pub mod md5;
pub mod neighbor;
pub mod pcap;
pub mod status;

/// What a command prints and its exit status; `main` carries it out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

impl Outcome {
    /// Success with a message (a newline is added when missing).
    pub fn ok(msg: impl Into<String>) -> Self {
        let mut stdout = msg.into();
        if !stdout.is_empty() && !stdout.ends_with('\n') {
            stdout.push('\n');
        }
        Outcome { stdout, stderr: String::new(), code: 0 }
    }

    /// A failure with exit status `code`; the message goes to stderr prefixed with `anycastd:`.
    pub fn err(code: u8, msg: impl Into<String>) -> Self {
        Outcome { stdout: String::new(), stderr: format!("anycastd: {}\n", msg.into()), code }
    }
}
