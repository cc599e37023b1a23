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
fn every_check_type_runs_alone_and_in_a_service() {
    let c = parse(&format!("{MINIMAL}{DNS}")).expect("services run");
    assert_eq!(c.services().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), [DEFAULT_SERVICE, "dns"]);
    for check in [
        "type = \"process\"\npidfile = \"/run/unbound.pid\"",
        "type = \"process\"\npattern = \"^unbound$\"",
        "type = \"address\"\naddress = \"203.0.113.124\"",
        "type = \"systemd\"\nunit = \"unbound.service\"",
        "type = \"http\"\nurl = \"https://127.0.0.1/\"\nbody = \"OK\"",
    ] {
        for text in [
            format!("{MINIMAL}\n[[health.check]]\nname = \"c\"\n{check}\n"),
            format!("{MINIMAL}{DNS}[[service.check]]\nname = \"s\"\n{check}\n"),
        ] {
            let c = parse(&text);
            assert!(c.is_ok(), "{text}: {:?}", c.err().map(|e| e.to_string()));
        }
    }
    let hooked = DNS.replace("[[service.check]]", "on_change = [\"/usr/local/bin/changed\"]\n[[service.check]]");
    let c = parse(&format!("{MINIMAL}{hooked}")).expect("on_change runs");
    assert_eq!(c.services()[1].on_change.as_deref(), Some(&["/usr/local/bin/changed".to_string()][..]));
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
