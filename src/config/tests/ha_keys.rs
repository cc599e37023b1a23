//! The issue-12 keys: `[anycast] preference`/`preference_via` and `[role]`'s keepalived keys
//! (`track_file`, `track_weight`, `pidfile`, `grace_ms`, `instance`, `vrid`).

use super::*;

fn with(anycast: &str, role: &str) -> String {
    format!("{MINIMAL}{anycast}\n{role}")
}

#[test]
fn preference_defaults_and_values() {
    assert_eq!(parse(MINIMAL).expect("valid").anycast.preference, None);
    let c = parse(&with("preference = 200", "")).expect("valid");
    assert_eq!(c.anycast.preference, Some(Preference { value: 200, via: PreferVia::Med }));
    let c = parse(&with("preference = 0\npreference_via = \"as-path\"", "")).expect("valid");
    let p = c.anycast.preference.expect("set");
    assert_eq!((p.via, p.med(), p.prepend()), (PreferVia::AsPath, None, 3));
    let c = parse(&with("preference = 255\npreference_via = \"both\"", "")).expect("valid");
    let p = c.anycast.preference.expect("set");
    assert_eq!((p.med(), p.prepend()), (Some(0), 0));
}

#[test]
fn preference_errors_say_the_range_and_the_choices() {
    let e = errors(&with("preference = 256", ""));
    assert!(e[0].contains("anycast.preference = 256") && e[0].contains("0 to 255"), "{e:?}");
    let e = errors(&with("preference = 10\npreference_via = \"local-pref\"", ""));
    assert!(e[0].contains("anycast.preference_via") && e[0].contains("med"), "{e:?}");
    let c = parse(&with("preference_via = \"med\"", "")).expect("valid");
    assert!(c.warnings.iter().any(|w| w.to_string().contains("no effect without preference")), "{:?}", c.warnings);
}

#[test]
fn keepalived_keys_and_their_defaults() {
    let c = parse(&with("", "[role]\nsource = \"keepalived\"")).expect("valid");
    assert_eq!(c.role, RoleSource::Keepalived(KeepalivedRole::at(PathBuf::from("/var/lib/anycastd/role"))));
    assert_eq!(c.track, Some(TrackFile { path: DEFAULT_TRACK_FILE.into(), weight: -254 }));
    let role = "[role]\nsource = \"keepalived\"\ntrack_file = \"/run/t\"\ntrack_weight = -50\n\
                pidfile = \"/run/k/vrrp.pid\"\ngrace_ms = 0\ninstance = \"VI_1\"\nvrid = 124";
    let c = parse(&with("", role)).expect("valid");
    assert_eq!(c.track, Some(TrackFile { path: "/run/t".into(), weight: -50 }));
    let want = KeepalivedRole {
        path: "/var/lib/anycastd/role".into(),
        pidfile: EnginePid::File("/run/k/vrrp.pid".into()),
        grace: Duration::ZERO,
        instance: Some("VI_1".into()),
        vrid: Some(124),
    };
    assert_eq!(c.role, RoleSource::Keepalived(want));
    // Off switches.
    let c = parse(&with("", "[role]\nsource = \"keepalived\"\ntrack_file = \"\"\npidfile = \"\"")).expect("valid");
    assert_eq!(c.track, None);
    assert!(matches!(&c.role, RoleSource::Keepalived(k) if k.pidfile == EnginePid::Off));
    assert!(c.warnings.iter().any(|w| w.to_string().contains("will not be seen")), "{:?}", c.warnings);
    // Other sources: no track file unless asked for; keepalived-only keys are refused.
    let c = parse(&with("", "[role]\nsource = \"file\"\npath = \"/run/r\"")).expect("valid");
    assert_eq!(c.track, None);
    let c = parse(&with("", "[role]\nsource = \"file\"\npath = \"/run/r\"\ntrack_file = \"/run/t\"")).expect("valid");
    assert_eq!(c.track, Some(TrackFile { path: "/run/t".into(), weight: -254 }));
    let e = errors(&with("", "[role]\nsource = \"file\"\npath = \"/run/r\"\nvrid = 1"));
    assert!(e[0].contains("role.vrid"), "{e:?}");
}

#[test]
fn keepalived_key_errors() {
    for (role, key, what) in [
        ("track_weight = 0", "role.track_weight", "-254 to -1"),
        ("track_weight = -255", "role.track_weight", "-254 to -1"),
        ("track_file = \"run/t\"", "role.track_file", "absolute"),
        ("pidfile = \"vrrp.pid\"", "role.pidfile", "absolute"),
        ("vrid = 0", "role.vrid", "1 to 255"),
        ("vrid = 256", "role.vrid", "1 to 255"),
        ("instance = \"a b\"", "role.instance", "no spaces"),
        ("grace_ms = -1", "role.grace_ms", "milliseconds"),
    ] {
        let e = errors(&with("", &format!("[role]\nsource = \"keepalived\"\n{role}")));
        assert!(e[0].contains(key) && e[0].contains(what), "{role}: {e:?}");
    }
}
