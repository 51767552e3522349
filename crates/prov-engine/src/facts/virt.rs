//! `virtual` on Linux: `virtualization_type`/`_role`/`_tech_guest`/`_tech_host`, following the
//! order of Ansible's LinuxVirtual checks (containers first, then Xen and DMI names).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::FactError;
use super::frame::Probe;

#[derive(Default)]
struct Found {
    kind: Option<(String, String)>,
    guest: BTreeSet<String>,
    host: BTreeSet<String>,
}

impl Found {
    fn guest(&mut self, tech: &str, kind: &str) {
        self.guest.insert(tech.to_owned());
        self.kind
            .get_or_insert_with(|| (kind.to_owned(), "guest".to_owned()));
    }
}

fn containers(p: &Probe, f: &mut Found) {
    for line in p.file("/proc/1/cgroup").unwrap_or("").lines() {
        if line.contains("/docker/") || (line.contains("/docker-") && line.ends_with(".scope")) {
            f.guest("docker", "docker");
        }
        if line.contains("/lxc/") || line.contains("/machine.slice/machine-lxc") {
            f.guest("lxc", "lxc");
        }
        if line.contains("/system.slice/containerd.service") {
            f.guest("containerd", "containerd");
        }
    }
    for var in p.ok_cmd("environ-1").unwrap_or("").lines() {
        if var.contains("container=lxc") {
            f.guest("lxc", "lxc");
        }
        if var.contains("container=podman") {
            f.guest("podman", "podman");
        }
        if var.len() > "container=".len() && var.starts_with("container=") {
            f.guest("container", "container");
        }
    }
    if p.exists("/proc/vz") && !p.exists("/proc/lve") {
        let role = if p.exists("/proc/bc") {
            "host"
        } else {
            "guest"
        };
        if role == "host" {
            f.host.insert("openvz".into());
        } else {
            f.guest.insert("openvz".into());
        }
        f.kind.get_or_insert(("openvz".into(), role.into()));
    }
    let systemd = p.content("/run/systemd/container");
    if let Some(c) = systemd {
        f.guest(c, c);
    }
    if p.exists("/.dockerenv") || p.exists("/.dockerinit") {
        f.guest("docker", "docker");
    }
    let known = ["docker", "lxc", "podman", "openvz", "containerd"];
    if systemd.is_some() || known.iter().any(|k| f.guest.contains(*k)) {
        f.guest.insert("container".into());
    }
}

fn machines(p: &Probe, f: &mut Found) {
    if p.exists("/proc/xen") {
        let host = p
            .file("/proc/xen/capabilities")
            .is_some_and(|c| c.contains("control_d"));
        if host {
            f.host.insert("xen".into());
        }
        let role = if host { "host" } else { "guest" };
        f.kind.get_or_insert(("xen".into(), role.into()));
    }
    let product = p
        .content("/sys/devices/virtual/dmi/id/product_name")
        .unwrap_or("");
    let vendor = p
        .content("/sys/devices/virtual/dmi/id/sys_vendor")
        .unwrap_or("");
    let bios = p
        .content("/sys/devices/virtual/dmi/id/bios_vendor")
        .unwrap_or("");
    let mut vm = |tech: &str| {
        f.guest.insert(tech.to_owned());
        f.kind.get_or_insert((tech.to_owned(), "guest".to_owned()));
    };
    if [
        "KVM",
        "KVM Server",
        "Bochs",
        "AHV",
        "CloudStack KVM Hypervisor",
    ]
    .contains(&product)
    {
        vm("kvm");
    }
    if vendor == "oVirt" {
        vm("oVirt");
    }
    if product.starts_with("VMware") {
        vm("VMware");
    }
    if ["OpenStack Compute", "OpenStack Nova"].contains(&product) {
        vm("openstack");
    }
    if bios == "Xen" {
        vm("xen");
    }
    if product == "VirtualBox" || vendor == "innotek GmbH" {
        vm("virtualbox");
    }
    if vendor == "QEMU" || bios == "SeaBIOS" && vendor != "Amazon EC2" {
        vm("kvm");
    }
    if vendor == "Microsoft Corporation" && product == "Virtual Machine" {
        vm("VirtualPC");
    }
    if p.exists("/dev/kvm") {
        f.host.insert("kvm".into());
        f.kind.get_or_insert(("kvm".into(), "host".into()));
    }
}

pub fn virtual_(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let mut f = Found::default();
    containers(p, &mut f);
    machines(p, &mut f);
    let (kind, role) = f.kind.unwrap_or_else(|| ("NA".into(), "NA".into()));
    out.insert("virtualization_type".into(), json!(kind));
    out.insert("virtualization_role".into(), json!(role));
    out.insert("virtualization_tech_guest".into(), json!(f.guest));
    out.insert("virtualization_tech_host".into(), json!(f.host));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_systemd_container_like_the_lab() {
        let mut p = Probe::default();
        p.cmds.insert(
            "environ-1".into(),
            (0, "container=prov-lab\nPATH=/bin\n".into()),
        );
        p.files
            .insert("/run/systemd/container".into(), "prov-lab\n".into());
        let mut f = Map::new();
        virtual_(&p, &mut f).unwrap();
        assert_eq!(f["virtualization_type"], "container");
        assert_eq!(f["virtualization_role"], "guest");
        assert_eq!(
            f["virtualization_tech_guest"],
            json!(["container", "prov-lab"])
        );
        let mut f = Map::new();
        virtual_(&Probe::default(), &mut f).unwrap();
        assert_eq!(f["virtualization_type"], "NA");
    }
}
