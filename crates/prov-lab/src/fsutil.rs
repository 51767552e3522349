//! Small file-system helpers: writing files with modes, mounts below a path, safe removal.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::LabError;
use crate::cmd::Cmd;

/// Writes `data` to `path` (replacing it) and sets its permission bits.
pub(crate) fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), LabError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| LabError::io("create directory", parent, e))?;
    }
    // Remove first: the target may be a symlink (e.g. into /dev/null) or read-only.
    match fs::symlink_metadata(path) {
        Ok(_) => fs::remove_file(path).map_err(|e| LabError::io("remove", path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LabError::io("inspect", path, e)),
    }
    fs::write(path, data).map_err(|e| LabError::io("write", path, e))?;
    set_mode(path, mode)
}

/// Sets the permission bits of `path`.
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), LabError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| LabError::io("chmod", path, e))
}

/// Creates (or replaces) a symlink `path` -> `target`.
pub(crate) fn force_symlink(target: &str, path: &Path) -> Result<(), LabError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(path).map_err(|e| LabError::io("remove", path, e))?
        }
        Ok(_) => fs::remove_file(path).map_err(|e| LabError::io("remove", path, e))?,
        Err(_) => {}
    }
    symlink(target, path).map_err(|e| LabError::io("symlink", path, e))
}

/// Creates a directory and its parents.
pub(crate) fn mkdirs(path: &Path) -> Result<(), LabError> {
    fs::create_dir_all(path).map_err(|e| LabError::io("create directory", path, e))
}

/// Decodes the octal escapes (`\040` etc.) the kernel uses in /proc/*/mountinfo.
fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points listed in a mountinfo text.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mount_path(p)))
        .collect()
}

/// Mount points of the caller's mount namespace at or below `dir`, deepest first.
pub(crate) fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = parse_mountinfo(&text)
        .into_iter()
        .filter(|m| m.starts_with(dir))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v.dedup();
    v
}

/// Lazily unmounts everything mounted at or below `dir` in the caller's mount namespace.
pub(crate) fn unmount_under(dir: &Path) -> Result<(), LabError> {
    for _ in 0..5 {
        let mounts = mounts_under(dir);
        if mounts.is_empty() {
            return Ok(());
        }
        for m in mounts {
            // Errors are tolerated here; the final check below reports leftovers.
            let _ = Cmd::new("umount").arg("-l").arg(&m).output();
        }
    }
    let left = mounts_under(dir);
    if left.is_empty() {
        Ok(())
    } else {
        Err(LabError::Other(format!(
            "cannot unmount {}",
            left.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Removes `dir` recursively after unmounting anything below it (never crosses into a mount).
pub(crate) fn remove_tree(dir: &Path) -> Result<(), LabError> {
    if fs::symlink_metadata(dir).is_err() {
        return Ok(());
    }
    unmount_under(dir)?;
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LabError::io("remove", dir, e)),
    }
}

/// Removes a file if it exists.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<(), LabError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LabError::io("remove", path, e)),
    }
}

/// Sets access and modification time of `path` (file or directory) to `t`.
pub(crate) fn set_mtime(path: &Path, t: std::time::SystemTime) -> Result<(), LabError> {
    let f = fs::File::open(path).map_err(|e| LabError::io("open", path, e))?;
    f.set_times(fs::FileTimes::new().set_accessed(t).set_modified(t))
        .map_err(|e| LabError::io("set times of", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_parsing_unescapes_spaces() {
        let text = "36 35 98:0 /mnt1 /var/lib/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n\
                    37 35 0:5 / /proc rw - proc proc rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(
            m,
            vec![PathBuf::from("/var/lib/with space"), PathBuf::from("/proc")]
        );
    }

    #[test]
    fn tree_removal_and_modes() {
        let dir = std::env::temp_dir().join(format!("prov-lab-fsutil-{}", std::process::id()));
        let f = dir.join("a/b/c.txt");
        write_file(&f, b"x", 0o600).unwrap();
        let mode = fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        force_symlink("/dev/null", &dir.join("a/link")).unwrap();
        assert_eq!(
            fs::read_link(dir.join("a/link")).unwrap(),
            PathBuf::from("/dev/null")
        );
        remove_tree(&dir).unwrap();
        assert!(!dir.exists());
    }
}
