//! Start-up code out of the daemon's resident set (issue 15, "lean").
//!
//! Most of what an idle daemon has resident is its own code, not its data: the kernel maps
//! the whole 64 KiB block around every code page a process touches ("fault-around"), and
//! start-up (argument parsing, the config parser and validation, netlink and listener set-up)
//! touches blocks spread over most of `.text`. Those pages stay mapped for the daemon's life
//! though start-up never runs again (BENCHMARKS.md, "Idle RSS").
//!
//! So once start-up, or a reload, is done, the daemon unmaps its own clean file pages
//! (`madvise(MADV_DONTNEED)` on the executable's read-only mappings). Nothing is lost: those
//! pages are the file's own, they stay in the page cache, and what runs again is mapped back on
//! first use by a minor fault (the kernel's fault-around again, a block per fault). The pages
//! become ordinary unmapped page cache, which the kernel reclaims before mapped code.
//!
//! Only a mapping of our own executable that is not writable and holds no private page (no
//! copy-on-write: smaps' `Anonymous: 0 kB`) is touched, so every page dropped reads back
//! identical: relocated read-only data (RELRO) and code a debugger patched are left alone.
#![allow(unsafe_code)]

/// One mapping of the executable that can be dropped: `[start, end)`, and its resident kB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clean {
    pub start: usize,
    pub end: usize,
    pub rss_kb: u64,
}

/// The mappings of `exe` in `smaps` (the text of `/proc/self/smaps`) that are file-backed,
/// private, not writable and hold no anonymous (copied-on-write) page.
pub fn clean_mappings(smaps: &str, exe: &str) -> Vec<Clean> {
    let mut out = Vec::new();
    // The mapping being read: (start, end, ours and not writable), its Rss, its Anonymous.
    let mut cur: Option<(usize, usize, bool)> = None;
    let (mut rss, mut anon) = (None::<u64>, None::<u64>);
    let mut flush = |cur: Option<(usize, usize, bool)>, rss: Option<u64>, anon: Option<u64>| {
        if let (Some((start, end, true)), Some(rss_kb), Some(0)) = (cur, rss, anon) {
            out.push(Clean { start, end, rss_kb });
        }
    };
    for line in smaps.lines() {
        if let Some((field, value)) = field(line) {
            let kb = value.trim().strip_suffix("kB").and_then(|v| v.trim().parse().ok());
            match field {
                "Rss" => rss = kb,
                "Anonymous" => anon = kb,
                _ => {}
            }
            continue;
        }
        flush(cur, rss, anon);
        (rss, anon) = (None, None);
        cur = mapping(line, exe);
    }
    flush(cur, rss, anon);
    out
}

/// `Name: value` of a smaps field line; `None` for a mapping's header line.
fn field(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    // A header starts with a hex range ("55d0…-55d1… r-xp …"), which has no ':' before a
    // space but in its device column (after the first space).
    (!name.contains(' ') && !name.contains('-')).then_some((name, value))
}

/// A header line `start-end perms offset dev inode path`: the range, and whether it is a
/// private, not writable mapping of `exe`.
fn mapping(line: &str, exe: &str) -> Option<(usize, usize, bool)> {
    let mut cols = line.splitn(6, ' ');
    let (range, perms) = (cols.next()?, cols.next()?);
    let path = cols.nth(3).map_or("", str::trim);
    let (start, end) = range.split_once('-')?;
    let (start, end) = (usize::from_str_radix(start, 16).ok()?, usize::from_str_radix(end, 16).ok()?);
    let p = perms.as_bytes();
    let ours = p.len() == 4 && p[1] != b'w' && p[3] == b'p' && !exe.is_empty() && path == exe;
    Some((start, end, ours && end > start))
}

/// What [`drop_startup_pages`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub mappings: usize,
    pub kb: u64,
}

/// Unmaps the resident pages of the executable's clean read-only mappings (code, read-only
/// data, unwind tables). Call it when start-up or a reload is done: what runs later faults
/// back in. An error (no /proc, no executable path) leaves everything mapped.
pub fn drop_startup_pages() -> std::io::Result<Dropped> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let exe = exe.to_str().ok_or_else(|| std::io::Error::other("the executable's path is not UTF-8"))?;
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut done = Dropped::default();
    for m in clean_mappings(&smaps, exe) {
        // SAFETY: `[start, end)` is a whole mapping of our executable, read-only, private, with
        // no anonymous page (read just now; a read-only mapping gains none without a write
        // through ptrace or mprotect, which this process does not do). MADV_DONTNEED on such a
        // mapping only drops page-table entries to pages of the page cache; the next access
        // maps the same file pages again, so no memory the program uses changes.
        let r = unsafe { libc::madvise(m.start as *mut libc::c_void, m.end - m.start, libc::MADV_DONTNEED) };
        if r == 0 {
            done.mappings += 1;
            done.kb += m.rss_kb;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXE: &str = "/usr/sbin/anycastd";

    fn smaps() -> String {
        let map = |range: &str, perms: &str, path: &str, rss: u64, anon: u64| {
            format!(
                "{range} {perms} 00000000 fe:01 1234                       {path}\n\
                 Size:               1024 kB\nRss:                 {rss} kB\nPss:                 {rss} kB\n\
                 Anonymous:           {anon} kB\nVmFlags: rd mr mw me\n"
            )
        };
        [
            map("400000-4a0000", "r--p", EXE, 640, 0),              // rodata, eh_frame
            map("4a0000-c00000", "r-xp", EXE, 4700, 0),             // text
            map("c00000-c40000", "r--p", EXE, 256, 256),            // RELRO, relocated
            map("c40000-c50000", "rw-p", EXE, 64, 12),              // data
            map("c50000-c60000", "r-xp", "/usr/sbin/other", 64, 0), // not ours
            map("d00000-d10000", "rw-p", "[heap]", 64, 64),
            map("e00000-e10000", "r-xp", "/usr/sbin/anycastd (deleted)", 64, 0),
            map("f00000-f01000", "r-xp", "", 4, 0),
        ]
        .concat()
    }

    #[test]
    fn only_our_clean_read_only_mappings() {
        let got = clean_mappings(&smaps(), EXE);
        assert_eq!(
            got,
            vec![
                Clean { start: 0x400000, end: 0x4a0000, rss_kb: 640 },
                Clean { start: 0x4a0000, end: 0xc00000, rss_kb: 4700 },
            ]
        );
        // The replaced binary of a running daemon is still ours under its "(deleted)" name.
        let deleted = clean_mappings(&smaps(), "/usr/sbin/anycastd (deleted)");
        assert_eq!(deleted, vec![Clean { start: 0xe00000, end: 0xe10000, rss_kb: 64 }]);
        assert!(clean_mappings(&smaps(), "").is_empty());
        assert!(clean_mappings("garbage\n:\n-\n", EXE).is_empty());
    }

    #[test]
    fn a_mapping_without_its_anonymous_count_is_left_alone() {
        let s = format!("400000-4a0000 r-xp 00000000 fe:01 1 {EXE}\nRss: 64 kB\n");
        assert!(clean_mappings(&s, EXE).is_empty());
    }

    /// On this very test process: its code is dropped and it runs on (faulting back in what it
    /// uses), and what is resident of the executable's clean mappings goes down.
    #[test]
    fn the_running_process_drops_its_code_and_runs_on() {
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let exe = exe.to_str().unwrap();
        let resident = || -> u64 {
            let s = std::fs::read_to_string("/proc/self/smaps").unwrap();
            clean_mappings(&s, exe).iter().map(|m| m.rss_kb).sum()
        };
        let before = resident();
        let done = drop_startup_pages().unwrap();
        assert!(done.mappings >= 1, "{done:?}");
        let after = resident();
        assert!(after < before, "resident {before} kB before, {after} kB after");
        // Code that was unmapped runs again.
        assert_eq!(clean_mappings(&smaps(), EXE).len(), 2);
    }
}
