//! The `anycastd` binary: argument parsing and exit codes only; every command's logic lives in
//! the library (`anycastd::cli`, `anycastd::wire`, …).

use anycastd::cli::decode;
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
    /// hex per line. `-` reads standard input. Exit status 1 if any message failed to decode.
    Decode {
        /// File to read (`-` for standard input).
        file: PathBuf,
        /// The input is hex text, one message per line.
        #[arg(long)]
        hex: bool,
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
        #[arg(long, short = 'c', default_value = "/etc/anycastd/anycastd.toml")]
        config: PathBuf,
        /// Log format.
        #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Show the daemon's role, health, what it advertises and each neighbor's session.
    ///
    /// Exit status: 0 healthy and every neighbor Established, 1 unhealthy or a neighbor down,
    /// 2 daemon unreachable.
    Status {
        /// More detail: checks' last results, message counters, last errors.
        #[arg(short, long)]
        verbose: bool,
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Tell the daemon keepalived's new state (from keepalived's notify hooks).
    ///
    /// MASTER makes this node primary; BACKUP, FAULT and STOP do not. The state is also saved,
    /// so a daemon that is down when keepalived calls picks it up when it starts.
    Notify {
        /// MASTER, BACKUP, FAULT or STOP.
        #[arg(value_name = "STATE")]
        state: String,
        #[command(flatten)]
        target: Target,
    },
    /// Drain: advertise with GRACEFUL_SHUTDOWN (65535:0, RFC 8326) for N seconds, then withdraw.
    /// The drained state survives a daemon restart; `undrain` reverses it.
    Drain {
        #[arg(long, default_value_t = anycastd::daemon::DEFAULT_DRAIN_SECS)]
        seconds: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Undo `drain`: back to the normal decision.
    Undrain {
        #[command(flatten)]
        target: Target,
    },
    /// Run every health check now and show the results and the decision.
    Check {
        #[command(flatten)]
        target: Target,
    },
    /// Re-read the config (also on SIGHUP).
    Reload {
        #[command(flatten)]
        target: Target,
    },
    /// Set, show or remove the BGP configuration (escadm-style flags).
    Bgp {
        #[command(subcommand)]
        command: BgpCommand,
    },
    /// Validate a configuration file: every error with file, line, column, key and a fix.
    #[command(name = "check-config")]
    CheckConfig {
        #[arg(long, short = 'c', default_value = "/etc/anycastd/anycastd.toml")]
        config: PathBuf,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to standard output.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output: anycastd man > anycastd.8
    Man,
    /// TCP-MD5 (RFC 2385) tools.
    Md5 {
        #[command(subcommand)]
        command: Md5Command,
    },
}

/// Which daemon to talk to.
#[derive(clap::Args)]
struct Target {
    /// The daemon's control socket.
    #[arg(long, conflicts_with = "config")]
    socket: Option<PathBuf>,
    /// Read the control socket path from this config file.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
}

impl Target {
    fn socket(&self) -> Result<PathBuf, String> {
        if let Some(s) = &self.socket {
            return Ok(s.clone());
        }
        let path = self.config.clone().unwrap_or_else(|| PathBuf::from("/etc/anycastd/anycastd.toml"));
        if self.config.is_none() && !path.exists() {
            return Ok(PathBuf::from(anycastd::control::DEFAULT_SOCKET));
        }
        anycastd::config::Config::load(&path).map(|c| c.control.socket).map_err(|e| e.to_string())
    }
}

/// Sends one control request; prints errors; exit code 2 when the daemon is unreachable.
fn control_request(target: &Target, req: anycastd::control::Request) -> Result<anycastd::control::Response, ExitCode> {
    let path = target.socket().map_err(|e| {
        eprintln!("anycastd: {e}");
        ExitCode::from(2)
    })?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        eprintln!("anycastd: {e}");
        ExitCode::from(2)
    })?;
    rt.block_on(anycastd::control::request(&path, &req, std::time::Duration::from_secs(10))).map_err(|e| {
        eprintln!("anycastd: {e}");
        ExitCode::from(2)
    })
}

fn status(target: &Target, verbose: bool, json: bool) -> ExitCode {
    let resp = match control_request(target, anycastd::control::Request::Status) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let Some(s) = resp.status else {
        eprintln!("anycastd: {}", resp.error.unwrap_or_else(|| "no status in the answer".into()));
        return ExitCode::from(2);
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    } else {
        print!("{}", anycastd::cli::status::render(&s, verbose));
    }
    ExitCode::from(anycastd::cli::status::exit_code(&s))
}

/// A control command whose answer is a message: print it; exit 0 on success, 1 on an error
/// answer, 2 when the daemon cannot be reached.
fn simple(target: &Target, req: anycastd::control::Request) -> ExitCode {
    match control_request(target, req) {
        Ok(r) if r.ok => {
            if let Some(m) = r.message {
                println!("{m}");
            }
            ExitCode::SUCCESS
        }
        Ok(r) => {
            eprintln!("anycastd: {}", r.error.unwrap_or_default());
            ExitCode::from(1)
        }
        Err(code) => code,
    }
}

/// `notify`: through the daemon when it runs; otherwise saved for its next start (keepalived
/// must never be blocked or failed by us).
fn notify(target: &Target, state: String) -> ExitCode {
    let path = match target.socket() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("anycastd: {e}");
            return ExitCode::from(2);
        }
    };
    let req = anycastd::control::Request::Notify { state: state.clone() };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("anycastd: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(anycastd::control::request(&path, &req, std::time::Duration::from_secs(5))) {
        Ok(r) if r.ok => {
            println!("{}", r.message.unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(r) => {
            eprintln!("anycastd: {}", r.error.unwrap_or_default());
            ExitCode::from(1)
        }
        Err(e) => {
            // Daemon down: save the state where the keepalived role source reads it at start.
            let cfg_path = target.config.clone().unwrap_or_else(|| PathBuf::from("/etc/anycastd/anycastd.toml"));
            match anycastd::config::Config::load(&cfg_path).map(|c| c.role) {
                Ok(anycastd::config::RoleSource::Keepalived { path }) => {
                    match anycastd::ha::role::persist_role(&path, &state) {
                        Ok(()) => {
                            eprintln!("anycastd: {e}; saved {state} to {} for the next start", path.display());
                            ExitCode::SUCCESS
                        }
                        Err(e2) => {
                            eprintln!("anycastd: {e}; and cannot save the state: {e2}");
                            ExitCode::from(2)
                        }
                    }
                }
                _ => {
                    eprintln!("anycastd: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ANYCASTD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Json => b.json().init(),
    }
}

fn run_daemon(path: &std::path::Path, log_format: LogFormat) -> ExitCode {
    init_logs(log_format);
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
        /// Session source address.
        #[arg(long = "local_ip", visible_alias = "local-ip", value_name = "IP")]
        local_ip: Option<String>,
        /// Anycast address or prefix to advertise (repeatable; a bare address is /32 or /128).
        #[arg(long = "anycast_ip", visible_alias = "anycast-ip", value_name = "IP[/LEN]")]
        anycast_ip: Vec<String>,
        /// Upstream router address (repeat for two routers); the neighbor list becomes exactly these.
        #[arg(long = "remote_ip", visible_alias = "remote-ip", value_name = "IP")]
        remote_ip: Vec<String>,
        /// Our AS number.
        #[arg(long = "local_as", visible_alias = "local-as", value_name = "ASN")]
        local_as: Option<String>,
        /// The routers' AS number.
        #[arg(long = "remote_as", visible_alias = "remote-as", value_name = "ASN")]
        remote_as: Option<String>,
        /// Our BGP identifier (IPv4).
        #[arg(long = "local_router_id", visible_alias = "local-router-id", value_name = "IPV4")]
        local_router_id: Option<String>,
        /// TCP-MD5 key for every neighbor (RFC 2385).
        #[arg(long = "md5", visible_alias = "bgp_md5", conflicts_with = "md5_file", value_name = "KEY")]
        md5: Option<String>,
        /// Read the TCP-MD5 key from this file (absolute path, mode 0600).
        #[arg(long = "md5-file", visible_alias = "md5_file", value_name = "PATH")]
        md5_file: Option<String>,
        #[arg(long, short = 'c', default_value = "/etc/anycastd/anycastd.toml")]
        config: PathBuf,
    },
    /// Print the BGP section of the config (keys redacted).
    Show {
        #[arg(long, short = 'c', default_value = "/etc/anycastd/anycastd.toml")]
        config: PathBuf,
    },
    /// Remove the BGP section and its neighbors.
    Unset {
        #[arg(long, short = 'c', default_value = "/etc/anycastd/anycastd.toml")]
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

fn md5_verify(pcap: &PathBuf, key: Option<String>, key_file: Option<PathBuf>, json: bool) -> ExitCode {
    let key = match (key, key_file) {
        (Some(k), _) => k.into_bytes(),
        (None, Some(f)) => match std::fs::read(&f) {
            Ok(mut k) => {
                if k.last() == Some(&b'\n') {
                    k.pop();
                }
                k
            }
            Err(e) => {
                eprintln!("anycastd md5 verify: cannot read key file {}: {e}", f.display());
                return ExitCode::from(2);
            }
        },
        (None, None) => {
            eprintln!("anycastd md5 verify: give the key with --key KEY or --key-file PATH");
            return ExitCode::from(2);
        }
    };
    let data = match std::fs::read(pcap) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("anycastd md5 verify: cannot read {}: {e}", pcap.display());
            return ExitCode::from(2);
        }
    };
    match anycastd::md5verify::verify_pcap(&data, &key) {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("anycastd md5 verify: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                println!("{}", report.to_string().trim_end());
            }
            if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("anycastd md5 verify: {}: {e}", pcap.display());
            ExitCode::from(2)
        }
    }
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, log_format } => run_daemon(&config, log_format),
        Command::Status { verbose, json, target } => status(&target, verbose, json),
        Command::Notify { state, target } => notify(&target, state),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "anycastd", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man => {
            use clap::CommandFactory;
            let man = clap_mangen::Man::new(Cli::command().name("anycastd")).section("8");
            match man.render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("anycastd: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Drain { seconds, target } => {
            simple(&target, anycastd::control::Request::Drain { seconds: Some(seconds) })
        }
        Command::Undrain { target } => simple(&target, anycastd::control::Request::Undrain),
        Command::Check { target } => simple(&target, anycastd::control::Request::Check),
        Command::Reload { target } => simple(&target, anycastd::control::Request::Reload),
        Command::CheckConfig { config } => print_result(anycastd::cli::bgp::check_config(&config)),
        Command::Bgp { command } => match command {
            BgpCommand::Set {
                local_ip,
                anycast_ip,
                remote_ip,
                local_as,
                remote_as,
                local_router_id,
                md5,
                md5_file,
                config,
            } => {
                let flags = anycastd::cli::bgp::SetFlags {
                    local_ip,
                    anycast_ip,
                    remote_ip,
                    local_as,
                    remote_as,
                    local_router_id,
                    md5,
                    md5_file,
                };
                print_result(anycastd::cli::bgp::set(&config, &flags))
            }
            BgpCommand::Show { config } => print_result(anycastd::cli::bgp::show(&config)),
            BgpCommand::Unset { config } => print_result(anycastd::cli::bgp::unset(&config)),
        },
        Command::Md5 { command: Md5Command::Verify { pcap, key, key_file, json } } => {
            md5_verify(&pcap, key, key_file, json)
        }
        Command::Decode { file, hex, four_octet_as, add_path, extended_message } => {
            let p = SessionParams { four_octet_as, extended_message, add_path_v4: add_path, add_path_v6: add_path };
            let input = match read_input(&file) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("anycastd decode: cannot read {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
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
