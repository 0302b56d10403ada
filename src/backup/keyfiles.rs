//! The key files a backup carries, named by their path under `certs_dir`: the shared IdP
//! key set (`idp-signing`, `-next`, `-previous`; `.key` and `.crt`) and `secrets.key` at its
//! top, and each app's own key set under `apps/{slug}/`. Other files there (a README, a
//! key being written, `*.tmp`) are not sesame's keys and are left alone.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A key file found under `certs_dir`.
#[derive(Debug, Clone)]
pub struct KeyFile {
    /// Under `certs_dir`, with `/`: `idp-signing.key`, `apps/wiki/idp-signing.crt`.
    pub rel: String,
    pub path: PathBuf,
}

fn is_key_name(name: &str) -> bool {
    let stem = name
        .strip_suffix(".key")
        .or_else(|| name.strip_suffix(".crt"));
    stem.is_some_and(|s| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    })
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `rel` names a key file (the check that keeps a restored name inside
/// `certs_dir`: no `..`, no absolute path, no other folder).
pub fn is_key_path(rel: &str) -> bool {
    match rel.split('/').collect::<Vec<_>>()[..] {
        [name] => is_key_name(name),
        ["apps", slug, name] => is_slug(slug) && is_key_name(name),
        _ => false,
    }
}

/// Private keys are 0600; certificates are public.
pub fn mode(rel: &str) -> u32 {
    if rel.ends_with(".crt") {
        0o644
    } else {
        0o600
    }
}

/// The key files under `certs_dir` (none when it does not exist), in name order.
pub fn list(certs_dir: &Path) -> std::io::Result<Vec<KeyFile>> {
    let mut found = files_in(certs_dir, "")?;
    let apps = certs_dir.join("apps");
    let mut slugs: Vec<String> = match std::fs::read_dir(&apps) {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|s| is_slug(s) && apps.join(s).is_dir())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    slugs.sort();
    for slug in slugs {
        found.extend(files_in(&apps.join(&slug), &format!("apps/{slug}/"))?);
    }
    Ok(found)
}

fn files_in(dir: &Path, prefix: &str) -> std::io::Result<Vec<KeyFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        // `is_file` follows a symbolic link: a linked key is backed up by its content.
        if is_key_name(&name) && entry.path().is_file() {
            found.push(KeyFile {
                rel: format!("{prefix}{name}"),
                path: entry.path(),
            });
        }
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(found)
}

/// Writes a key file under `certs_dir` with its mode from the start (through a temporary
/// file renamed into place, as `saml::keys` does).
pub fn put(certs_dir: &Path, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = certs_dir.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("restore-tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode(rel));
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)
}

/// Moves the key files into `aside` (a folder inside `certs_dir`, so on the same file
/// system), keeping their paths under it.
pub fn move_aside(files: &[KeyFile], aside: &Path) -> std::io::Result<()> {
    for f in files {
        let to = aside.join(&f.rel);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&f.path, to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_stay_inside_certs_dir() {
        for ok in [
            "idp-signing.key",
            "idp-signing-previous.crt",
            "secrets.key",
            "apps/wiki-2/idp-signing-next.key",
        ] {
            assert!(is_key_path(ok), "{ok}");
        }
        for bad in [
            "../idp-signing.key",
            "/etc/idp-signing.key",
            "apps/../../x.key",
            "apps/Wiki/idp-signing.key",
            "apps/wiki/sub/a.key",
            "other/a.key",
            "README.md",
            ".key",
            "idp-signing.tmp",
            "",
        ] {
            assert!(!is_key_path(bad), "{bad}");
        }
    }

    #[test]
    fn lists_keys_and_leaves_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("idp-signing.key"), "k").unwrap();
        std::fs::write(d.join("idp-signing.crt"), "c").unwrap();
        std::fs::write(d.join("README.md"), "r").unwrap();
        std::fs::write(d.join("idp-signing.tmp"), "t").unwrap();
        std::fs::create_dir_all(d.join("apps/wiki")).unwrap();
        std::fs::write(d.join("apps/wiki/idp-signing.key"), "w").unwrap();
        std::fs::create_dir_all(d.join("before-restore-1")).unwrap();
        std::fs::write(d.join("before-restore-1/idp-signing.key"), "old").unwrap();
        let names: Vec<String> = list(d).unwrap().into_iter().map(|k| k.rel).collect();
        assert_eq!(
            names,
            [
                "idp-signing.crt",
                "idp-signing.key",
                "apps/wiki/idp-signing.key"
            ]
        );
        assert!(list(&d.join("missing")).unwrap().is_empty());
    }
}
