//! Where the client commands find the daemon, without trusting the config file to be valid.
//! `notify`, `notify-fifo`, `status`, `drain`, `undrain`, `check` and `reload` must work while
//! the file on disk has a typo not yet applied, a key file at mode 0644, or a value the daemon
//! would reject: keepalived's role changes must still reach the running daemon. So nothing here
//! calls `Config::load`; a line scanner reads the few keys a client needs (`[control] socket`,
//! `[role] source`, `path`, `instance`) and ignores everything else, whatever state it is in.
//! It must not decide anything about the daemon's behaviour: the daemon validates its config.

use crate::config::{DEFAULT_PATH, DEFAULT_ROLE_PATH, DEFAULT_SOCKET};
use std::path::{Path, PathBuf};
/// A config file larger than this is read only this far (a client needs a few keys).
const MAX_READ: u64 = 1 << 20;

/// The keys a client reads, each `None` when absent or not readable as a plain string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientKeys {
    /// `[control] socket`.
    pub socket: Option<String>,
    /// `[role] source`.
    pub role_source: Option<String>,
    /// `[role] path`.
    pub role_path: Option<String>,
    /// `[role] instance`.
    pub role_instance: Option<String>,
    /// Each `[[service]]`'s `[service.role]`, when it has one.
    pub service_roles: Vec<ServiceRoleKeys>,
}

/// The keys of one `[service.role]` a client reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceRoleKeys {
    /// The `[[service]]`'s `name`.
    pub service: Option<String>,
    pub source: Option<String>,
    pub path: Option<String>,
    pub instance: Option<String>,
}

impl ServiceRoleKeys {
    /// Where this service's keepalived state is saved: its `path`, else the default
    /// `/var/lib/anycastd/role.NAME`; `None` when the role is not keepalived's or the service
    /// has no readable name.
    pub fn keepalived_path(&self) -> Option<PathBuf> {
        if self.source.as_deref() != Some("keepalived") {
            return None;
        }
        match (&self.path, &self.service) {
            (Some(p), _) => Some(PathBuf::from(p)),
            (None, Some(name)) => Some(PathBuf::from(format!("{DEFAULT_ROLE_PATH}.{name}"))),
            (None, None) => None,
        }
    }
}

/// The `[service.role]` tables of `text`, each with its service's name (same leniency as
/// [`scan`]).
pub fn service_roles(text: &str) -> Vec<ServiceRoleKeys> {
    let mut out: Vec<ServiceRoleKeys> = Vec::new();
    let mut name: Option<String> = None;
    // Which table the lines belong to: the service itself, its role, or neither.
    let (mut in_service, mut in_role) = (false, false);
    for line in lines(text) {
        match line {
            Line::ArrayTable(t) => {
                (in_service, in_role) = (t == "service", false);
                if in_service {
                    name = None;
                }
            }
            Line::Table(t) => {
                (in_service, in_role) = (false, t == "service.role");
                if in_role {
                    out.push(ServiceRoleKeys { service: name.clone(), ..Default::default() });
                }
            }
            Line::Entry(k, v) => {
                let v = string_value(v);
                if in_service && k == "name" {
                    name = v;
                } else if let (true, Some(r)) = (in_role, out.last_mut()) {
                    match k.as_str() {
                        "source" => r.source = v,
                        "path" => r.path = v,
                        "instance" => r.instance = v,
                        _ => {}
                    }
                }
            }
        }
    }
    out
}

impl ClientKeys {
    /// Scans `text` (see [`scan`]).
    pub fn from_text(text: &str) -> ClientKeys {
        ClientKeys {
            socket: scan(text, "control", "socket"),
            role_source: scan(text, "role", "source"),
            role_path: scan(text, "role", "path"),
            role_instance: scan(text, "role", "instance"),
            service_roles: service_roles(text),
        }
    }

    /// Reads `config` (`None`: the default config file). A missing or unreadable file gives no
    /// keys: the defaults apply.
    pub fn read(config: Option<&Path>) -> ClientKeys {
        use std::io::Read;
        let path = config.unwrap_or(Path::new(DEFAULT_PATH));
        let mut bytes = Vec::new();
        match std::fs::File::open(path).and_then(|f| f.take(MAX_READ).read_to_end(&mut bytes)) {
            Ok(_) => ClientKeys::from_text(&String::from_utf8_lossy(&bytes)),
            Err(_) => ClientKeys::default(),
        }
    }

    /// Whether the role source is (or may be, when unreadable) keepalived.
    pub fn may_be_keepalived(&self) -> bool {
        self.role_source.as_deref().is_none_or(|s| s == "keepalived")
    }

    /// Where keepalived's state is saved: `[role] path`, else the default.
    pub fn role_path(&self) -> PathBuf {
        PathBuf::from(self.role_path.as_deref().unwrap_or(DEFAULT_ROLE_PATH))
    }
}

/// The control socket: `socket` (`--socket`) if given; else `[control] socket` from the keys,
/// unless that socket does not exist while the default one does; else the default.
pub fn socket_path(socket: Option<&Path>, keys: &ClientKeys) -> PathBuf {
    if let Some(s) = socket {
        return s.to_path_buf();
    }
    let default = PathBuf::from(DEFAULT_SOCKET);
    match keys.socket.as_deref().map(PathBuf::from) {
        Some(s) if !s.exists() && default.exists() => default,
        Some(s) => s,
        None => default,
    }
}

/// The string value of `key` in table `table` of a TOML text, read line by line so that a
/// syntax error or a bad value anywhere else does not matter. Understands table headers
/// (`[control]`, `[ "control" ]`, a trailing comment), `[[array]]` headers (other tables),
/// dotted keys in the root table (`control.socket = …`), quoted keys, basic strings with the
/// usual escapes and literal strings, comments, and skips multi-line strings. The first
/// assignment found wins. `None` when the key is absent or not a one-line string.
pub fn scan(text: &str, table: &str, key: &str) -> Option<String> {
    let mut current: Option<String> = Some(String::new()); // the root table
    let dotted = format!("{table}.{key}");
    for line in lines(text) {
        let (k, v) = match line {
            Line::ArrayTable(_) => {
                current = None;
                continue;
            }
            Line::Table(t) => {
                current = Some(t);
                continue;
            }
            Line::Entry(k, v) => (k, v),
        };
        let hit = match current.as_deref() {
            Some("") => k == dotted || (table.is_empty() && k == key),
            Some(t) => t == table && k == key,
            None => false,
        };
        if hit {
            if let Some(s) = string_value(v) {
                return Some(s);
            }
        }
    }
    None
}

/// One line of a TOML text as the lenient scanners see it.
enum Line<'a> {
    /// `[name]` (unquoted, dotted parts joined: `[ "service" . role ]` → `service.role`).
    Table(String),
    /// `[[name]]`.
    ArrayTable(String),
    /// `key = value`: the dotted key unquoted, the value's text (with any trailing comment).
    Entry(String, &'a str),
}

/// The table headers and one-line assignments of `text`, line by line; comments, blank lines,
/// lines without `=`, and multi-line strings (from their opening line to their closing one) are
/// skipped.
fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let mut in_multiline: Option<&str> = None;
    text.lines().filter_map(move |raw| {
        let line = raw.trim();
        if let Some(delim) = in_multiline {
            if line.matches(delim).count() % 2 == 1 {
                in_multiline = None;
            }
            return None;
        }
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        if let Some(rest) = line.strip_prefix("[[") {
            return rest.split("]]").next().map(|n| Line::ArrayTable(dotted_key(n.trim())));
        }
        if let Some(rest) = line.strip_prefix('[') {
            return rest.split(']').next().map(|n| Line::Table(dotted_key(n.trim())));
        }
        let (k, v) = line.split_once('=')?;
        let v = v.trim_start();
        for delim in ["\"\"\"", "'''"] {
            if v.starts_with(delim) && v.matches(delim).count() % 2 == 1 {
                in_multiline = Some(delim);
            }
        }
        if in_multiline.is_some() {
            return None;
        }
        Some(Line::Entry(dotted_key(k.trim()), v))
    })
}

/// A key with its parts unquoted and the spaces around dots removed: `"control" . socket`
/// → `control.socket`.
fn dotted_key(k: &str) -> String {
    k.split('.').map(|p| unquote_key(p.trim())).collect::<Vec<_>>().join(".")
}

fn unquote_key(k: &str) -> String {
    let inner = k.strip_prefix('"').and_then(|s| s.strip_suffix('"'));
    let inner = inner.or_else(|| k.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
    inner.unwrap_or(k).to_string()
}

/// A one-line string value (what follows `=`), with its trailing comment; `None` otherwise.
fn string_value(v: &str) -> Option<String> {
    if let Some(rest) = v.strip_prefix('\'') {
        return rest.split_once('\'').map(|(s, _)| s.to_string());
    }
    let rest = v.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'u' => out.push(hex_char(&mut chars, 4)?),
                'U' => out.push(hex_char(&mut chars, 8)?),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

fn hex_char(chars: &mut std::str::Chars<'_>, n: usize) -> Option<char> {
    let digits: String = chars.by_ref().take(n).collect();
    if digits.len() != n {
        return None;
    }
    char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_socket_despite_syntax_errors_elsewhere() {
        let t = "[bgp]\nlocal_as = = 65124 oops\nrouter_id = \"192.0.2.1\n[[bgp.neighbor]]\nsocket = \"/wrong\"\n\
                 [control]\nsocket = \"/run/x/ctl.sock\"\n[anycast]\nprefixes = [\n";
        assert_eq!(scan(t, "control", "socket").as_deref(), Some("/run/x/ctl.sock"));
    }

    #[test]
    fn commented_out_keys_and_headers_do_not_count() {
        let t =
            "#[control]\n[role]\n# socket = \"/no\"\n[control]\n  # socket = \"/no2\"\n\tsocket='/yes' # a comment\n";
        assert_eq!(scan(t, "control", "socket").as_deref(), Some("/yes"));
        assert_eq!(scan("# [control]\nsocket = \"/no\"\n", "control", "socket"), None);
    }

    #[test]
    fn single_and_double_quotes_and_escapes() {
        assert_eq!(scan("[control]\nsocket = '/a\\b'\n", "control", "socket").as_deref(), Some("/a\\b"));
        assert_eq!(scan("[control]\nsocket=\"/a\\\"b\\u0041\"\n", "control", "socket").as_deref(), Some("/a\"bA"));
        assert_eq!(scan("[control]\nsocket = \"/a # b\" # c\n", "control", "socket").as_deref(), Some("/a # b"));
        // Not a string, or an unterminated one: nothing.
        assert_eq!(scan("[control]\nsocket = 5\n", "control", "socket"), None);
        assert_eq!(scan("[control]\nsocket = \"/a\n", "control", "socket"), None);
        assert_eq!(scan("[control]\nsocket = \"\\q\"\n", "control", "socket"), None);
    }

    #[test]
    fn control_after_other_tables_quoted_headers_and_dotted_keys() {
        let t = "[role]\nsource = \"keepalived\"\npath = \"/var/lib/x/role\"\n[[health.check]]\nname = \"a\"\n\
                 [ \"control\" ] # the socket\n\"socket\" = \"/run/q.sock\"\n";
        assert_eq!(scan(t, "control", "socket").as_deref(), Some("/run/q.sock"));
        let k = ClientKeys::from_text(t);
        assert_eq!(k.role_source.as_deref(), Some("keepalived"));
        assert_eq!(k.role_path(), PathBuf::from("/var/lib/x/role"));
        assert_eq!(k.role_instance, None);
        assert_eq!(scan("control.socket = \"/d\"\n[bgp]\n", "control", "socket").as_deref(), Some("/d"));
        assert_eq!(scan("control . \"socket\" = \"/d\"\n", "control", "socket").as_deref(), Some("/d"));
        // A dotted key inside another table is that table's.
        assert_eq!(scan("[bgp]\ncontrol.socket = \"/d\"\n", "control", "socket"), None);
    }

    #[test]
    fn missing_keys_and_multi_line_strings() {
        assert_eq!(scan("", "control", "socket"), None);
        assert_eq!(scan("[control]\ngroup = \"ops\"\n[other]\nsocket = \"/no\"\n", "control", "socket"), None);
        let t = "[health]\ncmd = \"\"\"\n[control]\nsocket = \"/no\"\n\"\"\"\n[control]\nsocket = \"/yes\"\n";
        assert_eq!(scan(t, "control", "socket").as_deref(), Some("/yes"));
        let k = ClientKeys::from_text("");
        assert!(k.may_be_keepalived());
        assert_eq!(k.role_path(), PathBuf::from(DEFAULT_ROLE_PATH));
    }

    #[test]
    fn the_socket_comes_from_the_flag_then_the_file_then_the_default() {
        let keys = ClientKeys { socket: Some("/nonexistent/ctl.sock".into()), ..Default::default() };
        assert_eq!(socket_path(Some(Path::new("/s")), &keys), PathBuf::from("/s"));
        // The default does not exist here either: the configured one, so the error names it.
        if !Path::new(DEFAULT_SOCKET).exists() {
            assert_eq!(socket_path(None, &keys), PathBuf::from("/nonexistent/ctl.sock"));
        }
        assert_eq!(socket_path(None, &ClientKeys::default()), PathBuf::from(DEFAULT_SOCKET));
    }

    #[test]
    fn an_unreadable_file_gives_the_defaults() {
        assert_eq!(ClientKeys::read(Some(Path::new("/nonexistent/anycastd.toml"))), ClientKeys::default());
    }
}
