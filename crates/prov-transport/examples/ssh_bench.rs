//! SSH transport benchmark: connect+auth time per host and no-op command round trips.
//!
//! ```text
//! cargo run --release -p prov-transport --example ssh_bench -- \
//!     [--key FILE] [--known-hosts FILE] [--user USER] [--count N] [--parallel N] [--shells N] \
//!     HOST[:PORT]...
//! ```
//! Defaults: the prov lab (`/var/lib/prov-lab/id_ed25519`, `/var/lib/prov-lab/known_hosts`,
//! root, lab1..lab3 at 10.77.0.11-13, 4 shell workers; `--shells 0` measures one exec channel
//! per command). Every host must be a loopback or lab address.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prov_core::{Connection, RemoteCommand, Stdin};
use prov_transport::ssh::{SshConnection, SshParams};

struct Opts {
    key: PathBuf,
    known_hosts: PathBuf,
    user: String,
    count: usize,
    parallel: usize,
    shells: usize,
    hosts: Vec<(String, u16)>,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        key: PathBuf::from("/var/lib/prov-lab/id_ed25519"),
        known_hosts: PathBuf::from("/var/lib/prov-lab/known_hosts"),
        user: "root".into(),
        count: 200,
        parallel: 10,
        shells: 4,
        hosts: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--key" => o.key = val("--key")?.into(),
            "--known-hosts" => o.known_hosts = val("--known-hosts")?.into(),
            "--user" => o.user = val("--user")?,
            "--count" => o.count = val("--count")?.parse().map_err(|e| format!("{e}"))?,
            "--shells" => o.shells = val("--shells")?.parse().map_err(|e| format!("{e}"))?,
            "--parallel" => o.parallel = val("--parallel")?.parse().map_err(|e| format!("{e}"))?,
            h => {
                let (host, port) = match h.rsplit_once(':') {
                    Some((h, p)) => (h.to_owned(), p.parse().map_err(|e| format!("{e}"))?),
                    None => (h.to_owned(), 22),
                };
                o.hosts.push((host, port));
            }
        }
    }
    if o.hosts.is_empty() {
        o.hosts = (11..=13).map(|i| (format!("10.77.0.{i}"), 22)).collect();
    }
    for (h, _) in &o.hosts {
        if !(h.starts_with("127.") || h.starts_with("10.77.0.") || h == "localhost") {
            return Err(format!(
                "{h}: only loopback and lab (10.77.0.0/24) hosts are allowed"
            ));
        }
    }
    Ok(o)
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ssh_bench: {e}");
            std::process::exit(2);
        }
    };
    for (addr, port) in &o.hosts {
        let mut p = SshParams::new(addr.clone(), addr.clone())
            .with_port(*port)
            .with_user(o.user.clone())
            .with_identity_file(&o.key);
        p.known_hosts_files = vec![o.known_hosts.clone()];
        p.use_agent = false;
        p.shell_workers = o.shells;

        let t0 = Instant::now();
        let c = match SshConnection::connect(&p).await {
            Ok(c) => c,
            Err(e) => {
                println!("{addr}:{port}: {e}");
                continue;
            }
        };
        let connect = t0.elapsed();
        let noop = RemoteCommand::new("true");
        // Warm-up.
        for _ in 0..5 {
            let _ = c.exec(&noop, Stdin::Null).await;
        }
        let mut times = Vec::with_capacity(o.count);
        for _ in 0..o.count {
            let t = Instant::now();
            match c.exec(&noop, Stdin::Null).await {
                Ok(out) if out.success() => times.push(t.elapsed()),
                Ok(out) => println!("{addr}: no-op failed: {}", out.stderr_text()),
                Err(e) => println!("{addr}: {e}"),
            }
        }
        times.sort();
        let c = Arc::new(c);
        let t = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..o.parallel {
            let c = c.clone();
            let n = o.count / o.parallel.max(1);
            tasks.push(tokio::spawn(async move {
                for _ in 0..n {
                    let _ = c.exec(&RemoteCommand::new("true"), Stdin::Null).await;
                }
                n
            }));
        }
        let mut done = 0;
        for task in tasks {
            done += task.await.unwrap_or(0);
        }
        let par = t.elapsed();
        println!(
            "{addr}:{port}: connect+auth {} | no-op exec x{}: median {} p90 {} min {} | \
             {} parallel workers: {} cmds in {} = {:.0} cmds/s",
            ms(connect),
            times.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.9)),
            ms(times.first().copied().unwrap_or_default()),
            o.parallel,
            done,
            ms(par),
            done as f64 / par.as_secs_f64()
        );
        c.close().await;
    }
}
