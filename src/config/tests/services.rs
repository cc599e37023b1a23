//! `[[service]]` and the new check types (issue 13, in progress): the parser's rules, and the
//! refusal of what this build does not run yet.

use super::*;

const DNS: &str = "\n[[service]]\nname = \"dns\"\nprefixes = [\"203.0.113.53/32\", \"2001:db8:53::53/128\"]\n\
                   [[service.check]]\nname = \"unbound\"\ntype = \"exec\"\ncommand = [\"/bin/true\"]\n";

#[test]
fn the_legacy_config_is_one_service_named_default() {
    let c = parse(MINIMAL).expect("valid");
    let s = c.services();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].name, DEFAULT_SERVICE);
    assert_eq!(s[0].prefixes, c.anycast.prefixes);
    assert_eq!((s[0].standby, &s[0].checks, &s[0].role), (c.anycast.standby, &c.health, &None));
    assert_eq!(c.all_prefixes(), c.anycast.prefixes);
}

#[test]
fn a_prefix_in_two_services_is_refused_naming_the_owner() {
    let twice = format!("{MINIMAL}{DNS}\n[[service]]\nname = \"auth\"\nprefixes = [\"203.0.113.53/32\"]\n");
    let e = errors(&twice);
    assert!(
        e.iter().any(|d| d.contains("service[1].prefixes[0]") && d.contains("already announced by service `dns`")),
        "{e:?}"
    );
    let legacy = format!("{MINIMAL}\n[[service]]\nname = \"web\"\nprefixes = [\"203.0.113.124/32\"]\n");
    let e = errors(&legacy);
    assert!(e.iter().any(|d| d.contains("already announced by anycast.prefixes (service `default`)")), "{e:?}");
}

#[test]
fn service_names_are_unique_and_default_is_reserved() {
    let e = errors(&format!("{MINIMAL}\n[[service]]\nname = \"default\"\nprefixes = [\"203.0.113.9/32\"]\n"));
    assert!(e.iter().any(|d| d.contains("service[0].name") && d.contains("`default` is the name")), "{e:?}");
    let e = errors(&format!("{MINIMAL}{DNS}\n[[service]]\nname = \"dns\"\nprefixes = [\"203.0.113.54/32\"]\n"));
    assert!(e.iter().any(|d| d.contains("service[1].name") && d.contains("already used by service[0]")), "{e:?}");
}

#[test]
fn a_service_check_is_located_under_its_service() {
    let bad = format!(
        "{MINIMAL}\n[[service]]\nname = \"dns\"\nprefixes = [\"203.0.113.53/32\"]\n\
                       [[service.check]]\nname = \"x\"\ntype = \"tcp\"\nurl = \"http://x/\"\n"
    );
    let e = errors(&bad);
    assert!(e.iter().any(|d| d.contains("service[0].check[0].url") && d.contains("does not apply")), "{e:?}");
}

#[test]
fn what_this_build_does_not_run_yet_is_refused_not_ignored() {
    // Services run now; a check type not run yet is refused in a service too.
    let c = parse(&format!("{MINIMAL}{DNS}")).expect("services run");
    assert_eq!(c.services().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), [DEFAULT_SERVICE, "dns"]);
    let e = errors(&format!("{MINIMAL}{DNS}[[service.check]]\nname = \"s\"\ntype = \"systemd\"\nunit = \"x\"\n"));
    assert!(
        e.iter().any(|d| d.contains("service[0].check[1].type") && d.contains("not run by this build yet")),
        "{e:?}"
    );
    let e = errors(&format!("{MINIMAL}\n[[health.check]]\nname = \"c\"\ntype = \"systemd\"\nunit = \"unbound\"\n"));
    assert!(e.iter().any(|d| d.contains("not run by this build yet")), "{e:?}");
    // What runs now is accepted.
    for check in [
        "type = \"process\"\npidfile = \"/run/unbound.pid\"",
        "type = \"process\"\npattern = \"^unbound$\"",
        "type = \"address\"\naddress = \"203.0.113.124\"",
    ] {
        parse(&format!("{MINIMAL}\n[[health.check]]\nname = \"c\"\n{check}\n")).expect(check);
    }
}

/// https (verified against `ca` or the system roots) and `body` run: they are accepted.
#[test]
fn https_and_body_are_accepted() {
    let c = parse(&format!(
        "{MINIMAL}\n[[health.check]]\nname = \"c\"\ntype = \"http\"\nurl = \"https://127.0.0.1:8443/ok\"\n\
         body = \"OK\"\nca = \"/etc/anycastd/ca.pem\"\n"
    ))
    .expect("valid");
    let url = HttpUrl { tls: true, host: "127.0.0.1".into(), port: 8443, path: "/ok".into() };
    let want = Probe::Http { url, status: 200..=399, body: Some("OK".into()), ca: Some("/etc/anycastd/ca.pem".into()) };
    assert_eq!(c.health.first().map(|h| &h.probe), Some(&want));
}

#[test]
fn new_check_types_say_what_is_wrong() {
    let e = errors(&format!("{MINIMAL}\n[[health.check]]\nname = \"c\"\ntype = \"process\"\npattern = \"(\"\n"));
    assert!(e.iter().any(|d| d.contains("pattern") && d.contains("not a regular expression")), "{e:?}");
    let e = errors(&format!("{MINIMAL}\n[[health.check]]\nname = \"c\"\ntype = \"process\"\n"));
    assert!(e.iter().any(|d| d.contains("pidfile") && d.contains("pattern")), "{e:?}");
    let e = errors(&format!("{MINIMAL}\n[[health.check]]\nname = \"c\"\ntype = \"address\"\naddress = \"x\"\n"));
    assert!(e.iter().any(|d| d.contains("an IP address")), "{e:?}");
    let e = errors(&format!(
        "{MINIMAL}\n[[health.check]]\nname = \"c\"\ntype = \"http\"\nurl = \"http://x/\"\nca = \"/etc/ca.pem\"\n"
    ));
    assert!(e.iter().any(|d| d.contains("`ca` needs an https:// url")), "{e:?}");
}
