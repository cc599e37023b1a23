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
