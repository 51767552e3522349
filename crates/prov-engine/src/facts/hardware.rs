//! `hardware` on Linux: memory, processors, mounts and uptime, as Ansible's LinuxHardware reads
//! them (/proc files, statvfs through `stat -f`, UUIDs from `lsblk`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::FactError;
use super::frame::Probe;

pub fn hardware(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    memory(p, out)?;
    cpu(p, out)?;
    mounts(p, out)?;
    if let Some(up) = p.content("/proc/uptime") {
        let secs = up
            .split_whitespace()
            .next()
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| FactError::new("uptime_seconds", format!("unexpected {up:?}")))?;
        out.insert("uptime_seconds".into(), json!(secs as u64));
    }
    Ok(())
}

/// `memtotal_mb`, `memfree_mb`, `swaptotal_mb`, `swapfree_mb`, `memory_mb` (each value kB // 1024).
fn memory(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let text = p
        .file("/proc/meminfo")
        .ok_or_else(|| FactError::new("memtotal_mb", "/proc/meminfo is unreadable"))?;
    let mut m: BTreeMap<&str, u64> = BTreeMap::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let kb = v
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
                FactError::new("memory_mb", format!("bad /proc/meminfo line {line:?}"))
            })?;
        m.insert(k.trim(), kb / 1024);
    }
    let g = |k: &str| m.get(k).copied().unwrap_or(0);
    if !m.contains_key("MemTotal") {
        return Err(FactError::new(
            "memtotal_mb",
            "/proc/meminfo has no MemTotal",
        ));
    }
    for (k, fact) in [
        ("MemTotal", "memtotal_mb"),
        ("MemFree", "memfree_mb"),
        ("SwapTotal", "swaptotal_mb"),
        ("SwapFree", "swapfree_mb"),
    ] {
        out.insert(fact.into(), json!(g(k)));
    }
    let nocache_free = g("Cached") + g("MemFree") + g("Buffers");
    out.insert(
        "memory_mb".into(),
        json!({
            "real": {"total": g("MemTotal"), "used": g("MemTotal") - g("MemFree"), "free": g("MemFree")},
            "nocache": {"free": nocache_free, "used": g("MemTotal").saturating_sub(nocache_free)},
            "swap": {"total": g("SwapTotal"), "free": g("SwapFree"), "used": g("SwapTotal") - g("SwapFree"), "cached": g("SwapCached")},
        }),
    );
    Ok(())
}

/// Python's `round()`: halves to even.
fn py_round(x: f64) -> u64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r as u64 % 2 == 1 {
        (r - 1.0) as u64
    } else {
        r as u64
    }
}

/// `processor` and `processor_count/_cores/_threads_per_core/_vcpus/_nproc`, with Ansible's
/// reading of /proc/cpuinfo (its quirks included) and the affinity mask for `_nproc`.
fn cpu(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let text = p
        .file("/proc/cpuinfo")
        .ok_or_else(|| FactError::new("processor", "/proc/cpuinfo is unreadable"))?;
    let mut processor = Vec::new();
    let (mut i, mut vendor, mut model, mut procs) = (0u64, 0, 0, 0);
    let mut sockets: Vec<(String, u64)> = Vec::new();
    let mut cores: Vec<(String, u64)> = Vec::new();
    let (mut physid, mut coreid) = (String::from("0"), String::from("0"));
    let mut flags: Option<Vec<&str>> = None;
    let set = |v: &mut Vec<(String, u64)>, k: &str, n: u64, only_new: bool| match v
        .iter_mut()
        .find(|(key, _)| key == k)
    {
        Some(e) if !only_new => e.1 = n,
        Some(_) => {}
        None => v.push((k.to_owned(), n)),
    };
    for line in text.lines() {
        let (key, val) = line.split_once(':').unwrap_or((line, ""));
        let (key, val) = (key.trim(), val.trim());
        match key {
            "model name" | "Processor" | "vendor_id" | "cpu" | "Vendor" | "processor" => {
                processor.push(json!(val));
                vendor += u64::from(key == "vendor_id");
                model += u64::from(key == "model name");
                procs += u64::from(key == "processor");
                i += 1;
            }
            "physical id" => {
                physid = val.to_owned();
                set(&mut sockets, val, 1, true);
            }
            "core id" => {
                coreid = val.to_owned();
                // Ansible checks `sockets` here (sic).
                if !sockets.iter().any(|(k, _)| k == val) {
                    set(&mut cores, val, 1, false);
                }
            }
            // The last processor's, as in Ansible.
            "flags" => flags = Some(val.split_whitespace().collect()),
            "cpu cores" => set(&mut sockets, &physid, num(val)?, false),
            "siblings" => set(&mut cores, &coreid, num(val)?, false),
            _ => {}
        }
    }
    if vendor > 0 && vendor == model {
        i = vendor;
    }
    let arch = out
        .get("architecture")
        .and_then(Value::as_str)
        .unwrap_or("");
    if arch.starts_with("armv") || arch.starts_with("aarch") || arch.starts_with("ppc") {
        i = procs;
    }
    let count = if sockets.is_empty() {
        i
    } else {
        sockets.len() as u64
    };
    let per_socket = sockets.first().map_or(0, |s| s.1);
    let cores_n = if per_socket > 0 { per_socket } else { 1 };
    let threads = py_round(cores.first().map_or(1, |c| c.1) as f64 / cores_n as f64);
    out.insert("processor".into(), Value::Array(processor));
    if let Some(flags) = flags {
        out.insert("flags".into(), json!(flags));
    }
    out.insert("processor_count".into(), json!(count));
    out.insert("processor_cores".into(), json!(cores_n));
    out.insert("processor_threads_per_core".into(), json!(threads));
    out.insert("processor_vcpus".into(), json!(threads * count * cores_n));
    out.insert("processor_nproc".into(), json!(nproc(p).unwrap_or(procs)));
    Ok(())
}

fn num(v: &str) -> Result<u64, FactError> {
    v.parse()
        .map_err(|_| FactError::new("processor_cores", format!("bad /proc/cpuinfo value {v:?}")))
}

/// The number of CPUs in the probing process's affinity mask (`os.sched_getaffinity`).
fn nproc(p: &Probe) -> Option<u64> {
    let list = p
        .file("/proc/self/status")?
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim();
    let mut n = 0;
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => n += b.parse::<u64>().ok()? - a.parse::<u64>().ok()? + 1,
            None => n += u64::from(part.parse::<u64>().is_ok()),
        }
    }
    Some(n)
}

/// /proc/mounts' `\040`-style escapes decoded.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `mounts`: the mounts of real devices, with sizes, inodes, UUID and `bind` marked.
fn mounts(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let Some(text) = p.file("/proc/mounts") else {
        return Ok(());
    };
    let sizes = statvfs(p)?;
    let binds: BTreeSet<String> = p
        .file("/proc/self/mountinfo")
        .unwrap_or("")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 4 && f[3] != "/").then(|| unescape(f[4]))
        })
        .collect();
    let uuids: BTreeMap<&str, &str> = p
        .ok_cmd("lsblk")
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.trim().rsplit_once(char::is_whitespace))
        .map(|(d, u)| (d.trim(), u.trim()))
        .collect();
    let mut list = Vec::new();
    for line in text.lines() {
        let f: Vec<String> = line.split_whitespace().map(unescape).collect();
        let [device, mount, fstype, options, dump, passno] = &f[..] else {
            return Err(FactError::new(
                "mounts",
                format!("bad /proc/mounts line {line:?}"),
            ));
        };
        let real = device.starts_with('/') || device.starts_with('\\') || device.contains(":/");
        if !real || fstype == "none" {
            continue;
        }
        let mut options = options.clone();
        if binds.contains(mount) && !options.contains("bind") {
            options.push_str(",bind");
        }
        let mut m = json!({
            "mount": mount, "device": device, "fstype": fstype, "options": options,
            "dump": dump.parse::<u64>().unwrap_or(0), "passno": passno.parse::<u64>().unwrap_or(0),
            "uuid": uuids.get(device.as_str()).copied().unwrap_or("N/A"),
        });
        if let (Some(s), Value::Object(o)) = (sizes.get(mount.as_str()), &mut m) {
            o.extend(s.clone());
        }
        list.push(m);
    }
    out.insert("mounts".into(), Value::Array(list));
    Ok(())
}

/// `stat -f -c '%s %S %b %a %c %d %n'` lines: statvfs fields by mount point.
fn statvfs(p: &Probe) -> Result<BTreeMap<String, Map<String, Value>>, FactError> {
    let mut sizes = BTreeMap::new();
    let Some((_, text)) = p.cmds.get("statvfs") else {
        return Ok(sizes);
    };
    for line in text.lines() {
        let mut w = line.splitn(7, ' ');
        let nums: Vec<u64> = w.by_ref().take(6).filter_map(|n| n.parse().ok()).collect();
        let (Some(name), [bsize, frsize, blocks, bavail, files, ffree]) = (w.next(), &nums[..])
        else {
            return Err(FactError::new(
                "mounts",
                format!("bad statvfs line {line:?}"),
            ));
        };
        let m = json!({
            "size_total": frsize * blocks, "size_available": frsize * bavail,
            "block_size": bsize, "block_total": blocks, "block_available": bavail,
            "block_used": blocks - bavail, "inode_total": files, "inode_available": ffree,
            "inode_used": files - ffree,
        });
        if let Value::Object(m) = m {
            sizes.insert(name.to_owned(), m);
        }
    }
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n\
        physical id\t: 0\nsiblings\t: 2\ncore id\t\t: 0\ncpu cores\t: 2\n\n\
        processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n\
        physical id\t: 0\nsiblings\t: 2\ncore id\t\t: 1\ncpu cores\t: 2\nflags\t\t: fpu  vme de\n";

    #[test]
    fn memory_cpu_mounts_uptime() {
        let mut p = Probe::default();
        for (k, v) in [
            (
                "/proc/meminfo",
                "MemTotal:       24683520 kB\nMemFree:        18219008 kB\nBuffers:  100 kB\nCached:  5354000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\nSwapCached: 0 kB\n",
            ),
            ("/proc/cpuinfo", CPUINFO),
            ("/proc/self/status", "Cpus_allowed_list:\t0-1\n"),
            ("/proc/uptime", "20857.52 40000.1\n"),
            (
                "/proc/mounts",
                "overlay / overlay rw 0 0\n/dev/vda /srv/repo ext4 ro,relatime 0 0\n/dev/vdb /mnt/a\\040b xfs rw 0 2\nproc /proc proc rw 0 0\n",
            ),
            (
                "/proc/self/mountinfo",
                "1 0 0:1 / / rw - overlay overlay rw\n2 1 254:0 /cache /srv/repo ro - ext4 /dev/vda ro\n",
            ),
        ] {
            p.files.insert(k.into(), v.into());
        }
        p.cmds.insert(
            "statvfs".into(),
            (0, "4096 4096 100 40 1000 900 /srv/repo\n".into()),
        );
        p.cmds
            .insert("lsblk".into(), (0, "/dev/vda\n/dev/vdb 1234-abcd\n".into()));
        let mut f = Map::new();
        f.insert("architecture".into(), json!("x86_64"));
        hardware(&p, &mut f).unwrap();
        assert_eq!(f["memtotal_mb"], 24105);
        assert_eq!(f["flags"], json!(["fpu", "vme", "de"]));
        assert_eq!(f["memory_mb"]["nocache"]["free"], 17792 + 5228);
        assert_eq!(f["processor_count"], 1);
        assert_eq!(f["processor_cores"], 2);
        assert_eq!(f["processor_threads_per_core"], 1);
        assert_eq!(f["processor_vcpus"], 2);
        assert_eq!(f["processor_nproc"], 2);
        assert_eq!(f["processor"][1], "GenuineIntel");
        assert_eq!(f["uptime_seconds"], 20857);
        let m = f["mounts"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["options"], "ro,relatime,bind");
        assert_eq!(m[0]["size_total"], 409_600);
        // As Ansible counts it: total minus what is available to users.
        assert_eq!(m[0]["block_used"], 60);
        assert_eq!(m[0]["uuid"], "N/A");
        assert_eq!(m[1]["mount"], "/mnt/a b");
        assert_eq!(m[1]["uuid"], "1234-abcd");
        assert_eq!(m[1]["passno"], 2);
        p.files
            .insert("/proc/meminfo".into(), "MemTotal: lots kB\n".into());
        let e = hardware(&p, &mut f).unwrap_err();
        assert!(e.to_string().contains("`memory_mb`"), "{e}");
    }
}
