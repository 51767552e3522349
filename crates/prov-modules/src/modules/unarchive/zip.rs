//! Zip archives in `unarchive`: what the planning command reports about a zip archive and
//! `dest` ([`ZipListing`]), and Ansible's `ZipArchive.is_unarchived` decision over it
//! ([`is_unarchived`]): the `zipinfo -T -s` listing compared entry by entry with `lstat` of
//! the path in `dest` (type, modification time as `time.mktime` reads zipinfo's local time,
//! size, CRC-32, permissions from the listing or `mode`, owner and group as the user who runs
//! or `owner`/`group`).

use std::collections::HashMap;

use prov_core::ModuleError;

use crate::remote_file::{Attrs, resolve_mode};

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// A user or group: name and id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Principal {
    /// The id.
    pub id: u32,
    /// The name.
    pub name: String,
}

/// `lstat` of a path in `dest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    /// Owner uid and name (`UNKNOWN` when the uid has no name).
    pub owner: Principal,
    /// Group gid and name (`UNKNOWN` when the gid has no name).
    pub group: Principal,
    /// Size in bytes.
    pub size: u64,
    /// Local modification time as `stat %y` prints it, in seconds since 0001-01-01-like
    /// civil days (naive, no offset applied).
    pub local_secs: i64,
    /// True when the modification time has a non-zero fraction of a second.
    pub fraction: bool,
    /// The UTC offset of that local time, in seconds.
    pub offset: i64,
}

impl Entry {
    fn kind(&self) -> u32 {
        self.mode & S_IFMT
    }
}

/// Everything the planning command found about a zip archive and `dest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZipListing {
    /// `ZipArchive` (zipinfo) or `ZipZArchive` (`unzip -Z`).
    pub handler: String,
    /// The user and group the command ran as.
    pub run_user: Principal,
    /// Its primary group.
    pub run_group: Principal,
    /// Its groups (`id -G`).
    pub groups: Vec<u32>,
    /// Its umask.
    pub umask: u32,
    /// The zone's standard UTC offset in seconds (the smaller of January's and July's), which
    /// `time.mktime` applies with `tm_isdst=0`.
    pub std_offset: i64,
    /// `owner` resolved on the host (`getent passwd`), when given and known.
    pub fut_owner: Option<Principal>,
    /// `group` resolved on the host (`getent group`), when given and known.
    pub fut_group: Option<Principal>,
    /// zipinfo's exit status.
    pub zipinfo_rc: i32,
    /// zipinfo's lines.
    pub zipinfo: Vec<String>,
    /// The archive's CRC-32 by name (`unzip -v`).
    pub crcs: HashMap<String, u32>,
    /// The archive's names, in order (`unzip -Z1`).
    pub files: Vec<String>,
    /// `lstat` of the names present in `dest`.
    pub entries: HashMap<String, Entry>,
    /// `lstat` of the top folders (`dest/TOP` for names `TOP/...`), with `mode`/owner/group.
    pub tops: Vec<(String, Entry)>,
    /// CRC-32 of the regular files present in `dest`.
    pub file_crcs: HashMap<String, u32>,
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_secs(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> i64 {
    days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s
}

/// zipinfo's `YYYYMMDD.HHMMSS` as Ansible's `_valid_time_stamp` reads it (before 1980: 1980,
/// after 2107: the end of 2107, unreadable: 1980), as naive local seconds.
pub fn zip_time(ts: &str) -> i64 {
    let epoch = civil_secs(1980, 1, 1, 0, 0, 0);
    let b = ts.as_bytes();
    if b.len() != 15 || b[8] != b'.' || !ts.bytes().enumerate().all(|(i, c)| i == 8 || c.is_ascii_digit()) {
        return epoch;
    }
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().unwrap_or(0);
    let y = n(0..4);
    if y < 1980 {
        return epoch;
    }
    if y > 2107 {
        return civil_secs(2107, 12, 31, 23, 59, 59);
    }
    civil_secs(y, n(4..6), n(6..8), n(9..11), n(11..13), n(13..15))
}

/// `+0100` as seconds.
pub fn parse_offset(s: &str) -> Option<i64> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

/// One `stat -c '%f %u %g %U %G %s %y'` answer (`%y`: `2026-12-07 05:07:39.000000000 +0000`).
pub fn parse_entry(fields: &str) -> Option<Entry> {
    let f: Vec<&str> = fields.split(' ').collect();
    let [mode, uid, gid, user, group, size, date, time, offset] = f[..] else {
        return None;
    };
    let d: Vec<i64> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [y, mo, da] = d[..] else { return None };
    let [h, mi, s] = t[..] else { return None };
    Some(Entry {
        mode: u32::from_str_radix(mode, 16).ok()?,
        owner: Principal { id: uid.parse().ok()?, name: user.to_owned() },
        group: Principal { id: gid.parse().ok()?, name: group.to_owned() },
        size: size.parse().ok()?,
        local_secs: civil_secs(y, mo, da, h, mi, s),
        fraction: frac.bytes().any(|c| c != b'0'),
        offset: parse_offset(offset)?,
    })
}

/// Python's `str.split(None, 7)`.
fn split8(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while out.len() < 7 && !rest.is_empty() {
        match rest.find(char::is_whitespace) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = rest[i..].trim_start();
            }
            None => {
                out.push(rest);
                rest = "";
            }
        }
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// `unzip -v` lines → CRC-32 by name (Ansible's legacy listing: lines 3.. until the last 2).
pub fn parse_crcs(lines: &[String]) -> HashMap<String, u32> {
    let n = lines.len();
    let body = if n >= 5 { &lines[3..n - 2] } else { &[][..] };
    body.iter()
        .filter_map(|l| {
            let f = split8(l);
            let crc = u32::from_str_radix(f.get(6)?, 16).ok()?;
            Some((f.get(7)?.to_string(), crc))
        })
        .collect()
}

/// Ansible's `_permstr_to_octal`.
fn permstr_to_octal(perm: &str, umask: u32) -> u32 {
    let mut mode = 0;
    for (k, c) in perm.chars().rev().enumerate().take(9) {
        if "rwxst".contains(c) {
            mode |= 1 << k;
        }
    }
    mode & !umask
}

/// `ZIP_FILE_MODE_RE.match`: `([r-][w-][SsTtx-]){3}` at the start.
fn perm_ok(perm: &str) -> bool {
    let b = perm.as_bytes();
    b.len() >= 9
        && (0..3).all(|j| {
            matches!(b[3 * j], b'r' | b'-')
                && matches!(b[3 * j + 1], b'w' | b'-')
                && matches!(b[3 * j + 2], b'S' | b's' | b'T' | b't' | b'x' | b'-')
        })
}

/// What `is_unarchived` found: Ansible's itemized lines (one per entry to unpack).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZipCheck {
    /// True when nothing needs unpacking.
    pub unarchived: bool,
    /// The itemized change lines (`>f++++++.?? a.txt`).
    pub itemized: Vec<String>,
}

/// Ansible's `ZipArchive.is_unarchived`, line by line of zipinfo's listing.
pub fn is_unarchived(l: &ZipListing, attrs: &Attrs) -> Result<ZipCheck, ModuleError> {
    let fut_owner = l.fut_owner.clone().unwrap_or_else(|| l.run_user.clone());
    let fut_group = l.fut_group.clone().unwrap_or_else(|| l.run_group.clone());
    let mut unarchived = l.zipinfo_rc == 0;
    let mut itemized = Vec::new();
    for line in &l.zipinfo {
        let pcs = split8(line);
        if pcs.len() != 8 || ![7, 8, 10].contains(&pcs[0].len()) || pcs[6].len() != 15 {
            continue;
        }
        let (ztype, perm) = pcs[0].split_at(1);
        if !"dl-?".contains(ztype) || !perm.chars().all(|c| "rwxstah-".contains(c)) {
            continue;
        }
        let size: u64 = pcs[3]
            .parse()
            .map_err(|_| ModuleError::failed(format!("zipinfo: bad size in `{line}`")))?;
        let path = pcs[7];
        let ftype = if path.ends_with('/') || ztype == "d" {
            'd'
        } else if ztype == "l" {
            'L'
        } else {
            'f'
        };
        let (perm, file_umask) = match perm.len() {
            6 if path.ends_with('/') || perm == "rwx---" => ("rwxrwxrwx", l.umask),
            6 => ("rw-rw-rw-", l.umask),
            7 if perm == "rwxa---" => ("rwxrwxrwx", l.umask),
            7 => ("rw-rw-rw-", l.umask),
            _ => (perm, 0),
        };
        if perm.len() != 9 || !perm_ok(perm) {
            return Err(ModuleError::failed(format!("ZIP info perm format incorrect, {perm}")));
        }
        let Some(st) = l.entries.get(path) else {
            itemized.push(format!(">{ftype}++++++.?? {path}"));
            continue;
        };
        let wrong_type = match ftype {
            'd' => st.kind() != S_IFDIR,
            'L' => st.kind() != S_IFLNK,
            _ => st.kind() != S_IFREG,
        };
        if wrong_type {
            if ftype == 'f' {
                unarchived = false;
            }
            itemized.push(format!("c{ftype}++++++.?? {path}"));
            continue;
        }
        let mut item: Vec<char> = format!(".{ftype}.......??").chars().collect();
        let mut change = false;
        if st.kind() == S_IFREG {
            let zip_epoch = zip_time(pcs[6]) - l.std_offset;
            if st.fraction || zip_epoch != st.local_secs - st.offset {
                change = true;
                item[4] = 't';
            }
            if size != st.size {
                change = true;
                item[3] = 's';
            }
            if l.file_crcs.get(path) != l.crcs.get(path) {
                change = true;
                item[2] = 'c';
            }
        }
        if ftype != 'L' {
            let want = match &attrs.mode {
                Some(m) => resolve_mode(m, st.mode & 0o7777, ftype == 'd')?,
                None if ztype == "?" => permstr_to_octal(perm, 0),
                None => permstr_to_octal(perm, file_umask),
            };
            if want != st.mode & 0o7777 {
                change = true;
                item[5] = 'p';
            }
        }
        if l.run_user.id != 0 && fut_owner != l.run_user {
            return Err(ModuleError::failed(format!(
                "Cannot change ownership of {path} to {}, as user {}",
                fut_owner.name, l.run_user.name
            )));
        }
        if st.owner.name != "UNKNOWN" {
            if st.owner.name != fut_owner.name {
                change = true;
                item[6] = 'o';
            }
        } else if st.owner.id != 0 && st.owner.id != fut_owner.id {
            change = true;
            item[6] = 'o';
        }
        if l.run_user.id != 0 && fut_group != l.run_group && !l.groups.contains(&fut_group.id) {
            return Err(ModuleError::failed(format!(
                "Cannot change group ownership of {path} to {}, as user {}",
                fut_group.name, l.run_user.name
            )));
        }
        if st.group.name != "UNKNOWN" {
            if st.group.name != fut_group.name {
                change = true;
                item[6] = 'g';
            }
        } else if st.group.id != 0 && st.group.id != fut_group.id {
            change = true;
            item[6] = 'g';
        }
        if change {
            itemized.push(format!("{} {path}", item.iter().collect::<String>()));
        }
    }
    if !itemized.is_empty() {
        unarchived = false;
    }
    Ok(ZipCheck { unarchived, itemized })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Mode;

    fn entry(mode: u32, size: u64, ts: &str) -> Entry {
        parse_entry(&format!("{mode:x} 0 0 root root {size} {ts} +0000")).unwrap()
    }

    fn listing() -> ZipListing {
        let zi = [
            "Archive:  /tmp/t.zip",
            "Zip file size: 725 bytes, number of entries: 3",
            "drwxr-xr-x  3.0 unx        0 bx stor 20261207.050739 d/",
            "lrwxrwxrwx  3.0 unx        5 bx stor 20261207.050739 d/l",
            "-rw-r-----  3.0 unx        6 tx stor 20261207.050739 d/a b.txt",
            "3 files, 11 bytes uncompressed, 11 bytes compressed:  0.0%",
        ];
        let v = [
            "Archive:  /tmp/t.zip",
            " Length   Method    Size  Cmpr    Date    Time   CRC-32   Name",
            "--------  ------  ------- ---- ---------- ----- --------  ----",
            "       0  Stored        0   0% 2026-12-07 05:07 00000000  d/",
            "       5  Stored        5   0% 2026-12-07 05:07 c1ebf7ba  d/l",
            "       6  Stored        6   0% 2026-12-07 05:07 363a3020  d/a b.txt",
            "--------          -------  ---                            -------",
            "      11               11   0%                            3 files",
        ];
        let root = Principal { id: 0, name: "root".into() };
        let t = "2026-12-07 05:07:39.000000000";
        ZipListing {
            handler: "ZipArchive".into(),
            run_user: root.clone(),
            run_group: root,
            umask: 0o022,
            zipinfo: zi.map(String::from).to_vec(),
            crcs: parse_crcs(&v.map(String::from)),
            files: vec!["d/".into(), "d/l".into(), "d/a b.txt".into()],
            entries: [
                ("d/".to_string(), entry(0o40755, 4096, t)),
                ("d/l".to_string(), entry(0o120777, 5, t)),
                ("d/a b.txt".to_string(), entry(0o100640, 6, t)),
            ]
            .into(),
            file_crcs: [("d/a b.txt".to_string(), 0x363a3020)].into(),
            ..ZipListing::default()
        }
    }

    #[test]
    fn times_are_pythons() {
        assert_eq!(zip_time("19700101.000000"), zip_time("19800101.000000"));
        assert_eq!(zip_time("garbage"), civil_secs(1980, 1, 1, 0, 0, 0));
        assert_eq!(civil_secs(1970, 1, 1, 0, 0, 0), 0);
        assert_eq!(zip_time("20261207.050739"), 1_796_620_059);
        assert_eq!(parse_offset("+0130"), Some(5400));
        assert_eq!(parse_offset("-0500"), Some(-18000));
        let e = parse_entry("81a4 0 0 root root 6 2026-12-07 05:07:39.500000000 +0100").unwrap();
        assert!(e.fraction);
        assert_eq!(e.offset, 3600);
        assert!(parse_entry("81a4 0 0 root root 6 2026-12-07").is_none());
    }

    #[test]
    fn crcs_and_fields_are_read_as_ansible_reads_them() {
        let l = listing();
        assert_eq!(l.crcs.get("d/a b.txt"), Some(&0x363a3020));
        assert_eq!(l.crcs.len(), 3);
        assert_eq!(split8("a  b c d e f g h i  j"), ["a", "b", "c", "d", "e", "f", "g", "h i  j"]);
        assert_eq!(permstr_to_octal("rwxr-s--t", 0), 0o751);
        assert_eq!(permstr_to_octal("rw-rw-rw-", 0o022), 0o644);
        assert!(perm_ok("rwSr-xr-t") && !perm_ok("rwxr-xr-a"));
    }

    #[test]
    fn an_unpacked_archive_is_unarchived() {
        let c = is_unarchived(&listing(), &Attrs::default()).unwrap();
        assert_eq!(c, ZipCheck { unarchived: true, itemized: vec![] });
    }

    #[test]
    fn every_difference_is_itemized() {
        let mut l = listing();
        l.entries.remove("d/l");
        let f = l.entries.get_mut("d/a b.txt").unwrap();
        f.size = 7;
        f.local_secs += 1;
        f.mode = 0o100644;
        f.owner.name = "www-data".into();
        l.file_crcs.insert("d/a b.txt".into(), 1);
        let c = is_unarchived(&l, &Attrs::default()).unwrap();
        assert!(!c.unarchived);
        assert_eq!(c.itemized, [">L++++++.?? d/l", ".fcstpo..?? d/a b.txt"]);
    }

    #[test]
    fn mode_owner_and_the_zone() {
        let mut l = listing();
        let attrs = Attrs { mode: Some(Mode::Octal(0o600)), ..Attrs::default() };
        let c = is_unarchived(&l, &attrs).unwrap();
        assert_eq!(c.itemized, [".d...p...?? d/", ".f...p...?? d/a b.txt"]);
        // A zone whose standard offset is +01:00, file times in summer time (+02:00).
        l.std_offset = 3600;
        for e in l.entries.values_mut() {
            e.offset = 7200;
        }
        let c = is_unarchived(&l, &Attrs::default()).unwrap();
        assert_eq!(c.itemized, [".f..t....?? d/a b.txt"]);
        let mut l = listing();
        l.run_user = Principal { id: 1000, name: "u".into() };
        l.run_group = Principal { id: 1000, name: "u".into() };
        assert!(!is_unarchived(&l, &Attrs::default()).unwrap().unarchived, "files owned by root");
        l.fut_owner = Some(Principal { id: 0, name: "root".into() });
        assert!(is_unarchived(&l, &Attrs::default()).unwrap_err().to_string().contains("Cannot change ownership"));
        let mut l = listing();
        l.zipinfo_rc = 1;
        assert!(!is_unarchived(&l, &Attrs::default()).unwrap().unarchived);
    }
}
