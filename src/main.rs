//! The `anycastd` binary: argument parsing and exit codes only; every command's logic lives in
//! the library (`anycastd::cli`, `anycastd::wire`, …).

use anycastd::cli::{client, decode};
use anycastd::config;
use anycastd::control::Request;
use anycastd::wire::SessionParams;
use clap::{ArgAction, Parser, Subcommand};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "anycastd", version, about = "BGP anycast speaker for L3 high availability", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode BGP messages and print one JSON object per message.
    ///
    /// Input is a binary file of concatenated messages, or with --hex text with one message in
    /// hex per line, or with --pcap a packet capture (pcap or pcapng, as `md5 verify` reads):
    /// each direction of each TCP connection to or from --port is reassembled and its messages
    /// printed in capture order, with `frame`, `src`, `dst` and the stream `offset`; what the
    /// capture lacks is said on stderr. `-` reads standard input. Exit status: 0 every message
    /// decoded, 1 one failed (or a capture holds no BGP), 2 unreadable input.
    Decode {
        /// File to read (`-` for standard input).
        #[arg(required_unless_present = "pcap")]
        file: Option<PathBuf>,
        /// The input is hex text, one message per line.
        #[arg(long, conflicts_with = "pcap")]
        hex: bool,
        /// Read the BGP messages out of a packet capture (`tcpdump -s 0 -w FILE tcp port 179`).
        #[arg(long, value_name = "FILE", conflicts_with = "file")]
        pcap: Option<PathBuf>,
        /// With --pcap: the BGP port of the sessions to decode [default: 179].
        #[arg(long, requires = "pcap")]
        port: Option<u16>,
        /// Decode AS_PATH and AGGREGATOR with 4-octet ASNs (RFC 6793).
        #[arg(long = "four-octet-as", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        four_octet_as: bool,
        /// Prefixes carry add-path identifiers (RFC 7911), IPv4 and IPv6.
        #[arg(long = "add-path")]
        add_path: bool,
        /// Allow messages up to 65535 octets (RFC 8654).
        #[arg(long = "extended-message")]
        extended_message: bool,
    },
    /// Run the speaker in the foreground (logs to stderr).
    Run {
        /// The configuration file.
        #[arg(long, short = 'c', default_value = config::DEFAULT_PATH)]
        config: PathBuf,
        /// Log format.
        #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Show the daemon's role, health, what it advertises and each neighbor's session.
    ///
    /// Exit status: 0 healthy, every neighbor Established, the role known and nothing drained;
    /// 1 degraded (unhealthy, a neighbor down, role unknown or drained); 2 daemon unreachable;
    /// 64 a usage error (as for every command). With --neighbor IP: 0 that neighbor is
    /// Established (and its BFD Up), 1 it is not, or the daemon has no neighbor IP.
    Status {
        /// More detail: checks' last results, message counters, last errors.
        #[arg(short, long)]
        verbose: bool,
        /// Only this neighbor, in detail: negotiated hold and keepalive times, the peer's
        /// router id and capabilities, prefixes sent, last error, last NOTIFICATION each way.
        #[arg(long, value_name = "IP")]
        neighbor: Option<std::net::IpAddr>,
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Tell the daemon keepalived's new state (from keepalived's notify hooks).
    ///
    /// `notify STATE`, or keepalived's own argument order `notify INSTANCE NAME STATE
    /// [PRIORITY]` (a generic `notify` hook; GROUP notifications are ignored). MASTER makes
    /// this node primary; BACKUP, FAULT and STOP do not. The state is also saved, so a daemon
    /// that is down when keepalived calls picks it up when it starts; then the exit status is 2
    /// with the reason. Prefer `notify-fifo`, which keeps keepalived's order.
    Notify {
        /// MASTER, BACKUP, FAULT or STOP; or INSTANCE NAME STATE [PRIORITY].
        #[arg(value_name = "STATE", num_args = 1..=4, required = true)]
        words: Vec<String>,
        /// The VRRP instance the state is for (the short form): only the services whose
        /// `role.instance` names it follow it.
        #[arg(long)]
        instance: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Follow keepalived's notify FIFO (its `vrrp_notify_fifo_script`), in order.
    ///
    /// Reads `INSTANCE "NAME" STATE PRIORITY` lines and forwards each state to the daemon,
    /// waiting for the answer before the next (states of other instances than `[role]
    /// instance` are ignored by the daemon). Ends when the FIFO reaches end of file.
    #[command(name = "notify-fifo")]
    NotifyFifo {
        /// The FIFO (keepalived passes it as the last argument).
        fifo: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Drain: advertise with GRACEFUL_SHUTDOWN (65535:0, RFC 8326) for N seconds, then withdraw.
    /// The drained state survives a daemon restart; `undrain` reverses it.
    Drain {
        #[arg(long, default_value_t = anycastd::daemon::DEFAULT_DRAIN_SECS)]
        seconds: u64,
        /// Only this service (`[[service]] name`, or `default`); every service without it.
        #[arg(long)]
        service: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Undo `drain`: back to the normal decision.
    Undrain {
        /// Only this service; every service without it.
        #[arg(long)]
        service: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Run every health check now and show the results and the decision: exit 0 when every
    /// check passed, 1 when one failed, 2 when the daemon is unreachable.
    ///
    /// With --quiet (keepalived's `vrrp_script`): run nothing, print nothing; exit 0 when the
    /// daemon answers within 0.5 s that the node can serve (every check healthy, not drained,
    /// a BGP neighbor serving), 1 otherwise (not serving, daemon down or hung).
    Check {
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Re-read the config (also on SIGHUP).
    Reload {
        #[command(flatten)]
        target: Target,
    },
    /// Reset, disable or enable one neighbor's BGP session.
    ///
    /// reset: NOTIFICATION Cease / Administrative Reset (RFC 4486 subcode 4), then connect
    /// again at once. disable: Cease / Administrative Shutdown (subcode 2), then stay down
    /// (AdminDown in status): no connection made or accepted, nothing advertised to it, until
    /// enable (kept across `reload`, not across a daemon restart). enable: start it again.
    /// Exit status: 0 done, 1 the daemon refused (no such neighbor, reset of a disabled one),
    /// 2 daemon unreachable, 64 a usage error (a malformed address).
    Neighbor {
        #[arg(value_enum)]
        action: anycastd::control::NeighborAction,
        /// The neighbor's address (`remote_ip`).
        ip: std::net::IpAddr,
        #[command(flatten)]
        target: Target,
    },
    /// Set, show or remove the BGP configuration (escadm-style flags).
    Bgp {
        #[command(subcommand)]
        command: BgpCommand,
    },
    /// Validate a configuration file: every error with file, line, column, key and a fix.
    ///
    /// Keys are checked as the kernel would store them: a TCP-MD5 key is 1 to 80 octets without
    /// a NUL byte; a key file (md5_file, bfd.key_file, tcp_ao.key_file) is the key plus at most
    /// one LF, and a CR LF line end, surrounding spaces or tabs or a second line are refused
    /// (write it with `printf '%s\n' 'THE-KEY' > FILE`). A neighbor with tcp_ao fails here with
    /// the reason: anycastd does not implement TCP-AO, and it names this kernel's support
    /// (probed with TCP_AO_ADD_KEY).
    #[command(name = "check-config")]
    CheckConfig {
        #[arg(long, short = 'c', default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to standard output.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output: anycastd man > anycastd.8
    Man {
        /// Write anycastd.8 and one page per subcommand (anycastd-status.8, anycastd-bgp-set.8,
        /// …, the pages anycastd.8 names) into this directory instead (packaging/build.sh).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// TCP-MD5 (RFC 2385) tools.
    Md5 {
        #[command(subcommand)]
        command: Md5Command,
    },
}

/// Which daemon to talk to. The config file is read leniently (a broken file still names
/// its socket and role path); it is never validated here.
#[derive(clap::Args)]
struct Target {
    /// The daemon's control socket (default: `[control] socket` of the config, else
    /// /run/anycastd/anycastd.sock).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// The config file to read `[control] socket` and `[role] path`/`instance` from
    /// (default /etc/anycastd/anycastd.toml).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
}

impl Target {
    fn resolve(&self) -> (PathBuf, anycastd::cli::locate::ClientKeys) {
        client::target(self.socket.as_deref(), self.config.as_deref())
    }

    fn socket(&self) -> PathBuf {
        self.resolve().0
    }
}

/// Prints an outcome and turns its status into the process exit code.
fn finish(o: anycastd::cli::Outcome) -> ExitCode {
    print!("{}", o.stdout);
    eprint!("{}", o.stderr);
    ExitCode::from(o.code)
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr through a bounded queue and a writer thread (`log_writer`), so a slow
/// journald never stalls the runtime; the returned guard writes what is queued at exit.
fn init_logs(format: LogFormat) -> Option<anycastd::log_writer::Flush> {
    let (filter, bad_filter) = log_filter(std::env::var("ANYCASTD_LOG").ok().as_deref());
    use anycastd::log_writer::Priority;
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    // Under systemd: `<N>` priorities for journald (log_writer).
    let journal = anycastd::log_writer::under_journald();
    let (sink, flush) =
        match anycastd::log_writer::spawn_for(std::io::stderr(), anycastd::log_writer::CAPACITY, journal) {
            Ok((sink, flush)) => (Some(sink), Some(flush)),
            Err(e) => {
                eprintln!("anycastd: cannot start the log writer thread ({e}); logging to stderr directly");
                (None, None)
            }
        };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let b = tracing_subscriber::fmt().with_ansi(ansi);
    let p = |inner| Priority { inner, journal };
    match (format, sink) {
        (LogFormat::Text, Some(s)) => b.map_event_format(p).with_writer(s).finish().with(filter).init(),
        (LogFormat::Json, Some(s)) => {
            b.json().map_event_format(|inner| Priority { inner, journal }).with_writer(s).finish().with(filter).init()
        }
        (LogFormat::Text, None) => b.map_event_format(p).with_writer(std::io::stderr).finish().with(filter).init(),
        (LogFormat::Json, None) => b
            .json()
            .map_event_format(|inner| Priority { inner, journal })
            .with_writer(std::io::stderr)
            .finish()
            .with(filter)
            .init(),
    }
    if let Some(e) = bad_filter {
        tracing::warn!("ANYCASTD_LOG ignored, logging at info: {e}");
    }
    flush
}

/// The log filter from `ANYCASTD_LOG` (`debug`, `anycastd=debug,info`, `anycastd::speaker=trace`):
/// a default level and per-module levels, as `RUST_LOG`; unset or unparsable means `info`
/// (the second value says why it was not used).
fn log_filter(spec: Option<&str>) -> (tracing_subscriber::filter::Targets, Option<String>) {
    let info = || tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO);
    match spec.map(str::trim).filter(|s| !s.is_empty()) {
        None => (info(), None),
        Some(s) => match s.parse() {
            Ok(t) => (t, None),
            Err(e) => (info(), Some(format!("{:?}: {e}", s.escape_debug().to_string()))),
        },
    }
}

fn run_daemon(path: &std::path::Path, log_format: LogFormat) -> ExitCode {
    let _flush = init_logs(log_format);
    let cfg = match anycastd::config::Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("anycastd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(anycastd::daemon::run(cfg, path.to_path_buf())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("anycastd: {e}");
            ExitCode::from(1)
        }
    }
}

#[derive(Subcommand)]
enum BgpCommand {
    /// Create or update the BGP part of the config (other sections are left as they are).
    ///
    /// Validates before writing, writes atomically, mode 0600 when the file holds a key, and
    /// prints what changed. Example:
    ///   anycastd bgp set --local_ip 192.0.2.11 --anycast_ip 203.0.113.124 --remote_ip 192.0.2.1
    ///     --local_as 65124 --remote_as 65000 --local_router_id 192.0.2.11 --md5 secret
    Set {
        #[command(flatten)]
        flags: Box<anycastd::cli::bgp::SetFlags>,
        #[arg(long, short = 'c', default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Print the BGP section of the config (keys redacted).
    Show {
        #[arg(long, short = 'c', default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Remove the BGP section and its neighbors.
    Unset {
        #[arg(long, short = 'c', default_value = config::DEFAULT_PATH)]
        config: PathBuf,
    },
}

fn print_result(r: Result<String, String>) -> ExitCode {
    match r {
        Ok(s) => {
            print!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

#[derive(Subcommand)]
enum Md5Command {
    /// Check the TCP-MD5 signatures in a capture of BGP traffic against a key.
    ///
    /// Reports, per TCP flow and direction, how many segments carry a TCP-MD5 option and
    /// whether each digest is valid for the key: the tool for a session stuck in Active.
    /// Capture with e.g. `tcpdump -i any -s 0 -w bgp.pcap 'tcp port 179'`.
    /// Exit status: 0 all signed segments valid, 1 a failure was found, 2 unreadable input.
    Verify {
        /// The capture (pcap or pcapng).
        #[arg(long)]
        pcap: PathBuf,
        /// The key, as configured on both sides.
        #[arg(long, conflicts_with = "key_file", required_unless_present = "key_file")]
        key: Option<String>,
        /// Read the key from a file (one trailing newline is ignored).
        #[arg(long = "key-file")]
        key_file: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn read_input(file: &PathBuf) -> std::io::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::stdin().read_to_end(&mut v)?;
        Ok(v)
    } else {
        std::fs::read(file)
    }
}

/// The BGP port (RFC 4271 §8.2.1): what `decode --pcap` looks for without --port.
const BGP_PORT: u16 = 179;

/// The command tree the man pages describe: built (so each subcommand's name is
/// `anycastd-status`, as its page is named), without clap's `help` subcommand (no page).
fn man_command() -> clap::Command {
    use clap::CommandFactory;
    let mut cmd = Cli::command().name("anycastd").disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Writes `cmd`'s page and, depth first, one per visible subcommand into `dir` (created if
/// missing), all in section 8: the `anycastd-status(8)` … that the top page lists all exist.
fn write_man_pages(cmd: clap::Command, dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_man_pages(sub.clone(), dir)?;
    }
    clap_mangen::Man::new(cmd).section("8").generate_to(dir).map(drop)
}

/// A usage error (unknown flag, missing argument): EX_USAGE from sysexits.h, so a script tells
/// it from 1 (degraded, a check failed) and 2 (the daemon unreachable).
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors: clap prints them to stdout.
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run { config, log_format } => run_daemon(&config, log_format),
        Command::Status { neighbor: Some(ip), verbose: _, json, target } => {
            finish(anycastd::cli::neighbor::status(&target.socket(), ip, json))
        }
        Command::Status { neighbor: None, verbose, json, target } => {
            finish(client::status(&target.socket(), verbose, json))
        }
        Command::Notify { words, instance, target } => {
            let (socket, keys) = target.resolve();
            finish(client::notify(&socket, &keys, &words, instance.as_deref()))
        }
        Command::NotifyFifo { fifo, target } => {
            let (socket, config) = (target.socket.as_deref(), target.config.as_deref());
            finish(client::notify_fifo(socket, config, &fifo, &mut std::io::stderr()))
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "anycastd", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man { dir } => {
            let written = match &dir {
                Some(dir) => write_man_pages(man_command(), dir),
                None => clap_mangen::Man::new(man_command()).section("8").render(&mut std::io::stdout()),
            };
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let at = dir.map(|d| format!(" {}", d.display())).unwrap_or_default();
                    eprintln!("anycastd: man{at}: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Drain { seconds, service, target } => {
            finish(client::simple(&target.socket(), Request::Drain { seconds: Some(seconds), service }))
        }
        Command::Undrain { service, target } => finish(client::simple(&target.socket(), Request::Undrain { service })),
        Command::Check { quiet: true, target } => finish(client::check_quiet(&target.socket())),
        Command::Check { quiet: false, target } => finish(client::check(&target.socket())),
        Command::Reload { target } => finish(client::simple(&target.socket(), Request::Reload)),
        Command::Neighbor { action, ip, target } => {
            finish(client::simple(&target.socket(), Request::Neighbor { action, ip }))
        }
        Command::CheckConfig { config } => print_result(anycastd::cli::bgp::check_config(&config)),
        Command::Bgp { command } => match command {
            BgpCommand::Set { flags, config } => print_result(anycastd::cli::bgp::set(&config, &flags)),
            BgpCommand::Show { config } => print_result(anycastd::cli::bgp::show(&config)),
            BgpCommand::Unset { config } => print_result(anycastd::cli::bgp::unset(&config)),
        },
        Command::Md5 { command: Md5Command::Verify { pcap, key, key_file, json } } => {
            finish(anycastd::cli::md5::verify(&pcap, key, key_file.as_deref(), json))
        }
        Command::Decode { file, hex, pcap, port, four_octet_as, add_path, extended_message } => {
            let p = SessionParams { four_octet_as, extended_message, add_path_v4: add_path, add_path_v6: add_path };
            if let Some(pcap) = pcap {
                return finish(anycastd::cli::pcap::run(&pcap, &p, port.unwrap_or(BGP_PORT)));
            }
            let Some(file) = file.filter(|_| port.is_none()) else {
                eprintln!("error: --port goes with --pcap\n\nFor more information, try '--help'.");
                return ExitCode::from(EX_USAGE);
            };
            let input = match read_input(&file) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("anycastd decode: cannot read {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            // A capture given without --pcap (review: it printed one "marker is not all ones").
            if !hex && anycastd::capture::is_capture(&input) {
                eprintln!("anycastd decode: {} is a packet capture: decoding it as with --pcap", file.display());
                return finish(anycastd::cli::pcap::report(&input, &p, BGP_PORT, &file));
            }
            let out = if hex {
                match std::str::from_utf8(&input) {
                    Ok(t) => decode::decode_hex_lines(t, &p),
                    Err(_) => {
                        eprintln!(
                            "anycastd decode: {} is not text; drop --hex to read binary messages",
                            file.display()
                        );
                        return ExitCode::from(2);
                    }
                }
            } else {
                decode::decode_stream(&input, &p)
            };
            let mut stdout = std::io::stdout().lock();
            for v in &out.lines {
                if writeln!(stdout, "{v}").is_err() {
                    return ExitCode::from(2);
                }
            }
            if out.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn log_filter_takes_levels_and_per_module_levels_and_says_why_it_ignores_the_rest() {
        let (t, bad) = log_filter(None);
        assert!(bad.is_none() && t.would_enable("anycastd::speaker", &Level::INFO));
        assert!(!t.would_enable("anycastd::speaker", &Level::DEBUG));
        let (t, bad) = log_filter(Some("anycastd::speaker=trace,warn"));
        assert!(bad.is_none());
        assert!(t.would_enable("anycastd::speaker::listener", &Level::TRACE));
        assert!(!t.would_enable("anycastd::daemon", &Level::INFO));
        assert!(t.would_enable("netlink_proto", &Level::WARN));
        let (t, bad) = log_filter(Some("anycastd=loud"));
        assert!(bad.is_some_and(|e| e.contains("anycastd=loud")));
        assert!(t.would_enable("anycastd", &Level::INFO) && !t.would_enable("anycastd", &Level::DEBUG));
        assert!(log_filter(Some("  ")).1.is_none());
    }
}
