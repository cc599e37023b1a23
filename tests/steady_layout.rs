//! packaging/steady.ld still lays out the daemon's steady-state code (issue 15, lean): the
//! binary has a `.text.steady` section before `.text`, and the script's patterns still name
//! functions of this build. When code is renamed or moved the share of patterns that match
//! falls, and this fails: run `interop/profile-steady.py` (root, valgrind) to write the script
//! again (BENCHMARKS.md, "Idle RSS"). The bar is for the debug binary cargo test builds: it
//! shares generics with its dependencies and inlines nothing, so fewer of the release build's
//! functions exist in it (533 of 654 patterns matched when the script was written, 653 in the
//! release build after it).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_anycastd");

/// The section patterns of the script: the `*(PATTERN)` lines.
fn patterns() -> Vec<String> {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/steady.ld")).unwrap();
    script.lines().filter_map(|l| l.trim().strip_prefix("*(")?.strip_suffix(')').map(str::to_string)).collect()
}

/// Shell-style `*` and `?` matching, as the linkers match section names.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn tool(name: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(name).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn glob_matches_as_a_linker_does() {
    assert!(glob(b".text._RNvCs*_3foo3bar*", b".text._RNvCsAbC12_3foo3barCs9_3baz"));
    assert!(glob(b".text.a?c", b".text.abc"));
    assert!(!glob(b".text.a?c", b".text.abbc"));
    assert!(!glob(b".text._RNvCs*_3foo3bar", b".text._RNvCsA_3foo3barX"));
}

#[test]
fn the_steady_state_code_is_laid_out_first_and_the_script_still_names_it() {
    let (Some(nm), Some(sections)) = (tool("nm", &["--defined-only", BIN]), tool("readelf", &["-SW", BIN])) else {
        panic!("this test needs nm and readelf (binutils)");
    };
    // Where the two sections are: [Nr] Name Type Address Off Size …
    let addr = |name: &str| {
        sections.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let i = f.iter().position(|w| *w == name)?;
            Some((u64::from_str_radix(f.get(i + 2)?, 16).ok()?, u64::from_str_radix(f.get(i + 4)?, 16).ok()?))
        })
    };
    let (steady, text) = (addr(".text.steady"), addr(".text"));
    let (Some((steady_at, steady_size)), Some((text_at, _))) = (steady, text) else {
        panic!("no .text.steady or .text section in {BIN}:\n{sections}");
    };
    assert!(steady_at < text_at && steady_size >= 64 * 1024, "{steady:?} {text:?}");

    let mut names: Vec<String> = nm
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && matches!(f[1], "t" | "T" | "w" | "W")).then(|| format!(".text.{}", f[2]))
        })
        .collect();
    names.sort();
    let pats = patterns();
    assert!(pats.len() > 100, "{} patterns", pats.len());
    // Each pattern against the names that share its literal prefix (sorted: one range).
    let matches = |p: &String| {
        let lit = &p[..p.find(['*', '?']).unwrap_or(p.len())];
        let from = names.partition_point(|n| n.as_str() < lit);
        names[from..].iter().take_while(|n| n.starts_with(lit)).any(|n| glob(p.as_bytes(), n.as_bytes()))
    };
    let missing: Vec<&String> = pats.iter().filter(|p| !matches(p)).collect();
    let share = 1.0 - missing.len() as f64 / pats.len() as f64;
    assert!(
        share >= 0.75,
        "only {:.0} % of packaging/steady.ld's {} patterns name a function of this build: run \
         interop/profile-steady.py to write it again. Unmatched, first 10: {:#?}",
        share * 100.0,
        pats.len(),
        &missing[..missing.len().min(10)]
    );
}
