//! The backup file: a gzip-compressed tar archive, so `tar tzvf` lists it and `tar xzf`
//! unpacks it on a machine without sesame. Its members, in this order:
//!
//! 1. `MANIFEST.json`: the format version, when and by which sesame it was made, and the
//!    size and SHA-256 of every member that follows but the last;
//! 2. the members the manifest names (the database, then the key files);
//! 3. `MANIFEST.json.sha256`: the SHA-256 of the manifest, in `sha256sum` format (after
//!    `tar xzf`, `sha256sum -c MANIFEST.json.sha256` checks it by hand).
//!
//! `read` checks, in this order, and trusts nothing before the end: the gzip and tar
//! framing as it goes; the manifest first; each member against its entry while it streams
//! by (a member the manifest does not name, or names twice, is refused); the manifest
//! against its hash; that no member is missing and none follows; last, the gzip trailer
//! (CRC-32 and length), so a copy cut short fails even where the cut fell between members.
//!
//! These checks find damage (a truncated copy, a flipped bit, an edited member), not
//! forgery: whoever can write the file can write a matching manifest.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MANIFEST: &str = "MANIFEST.json";
pub const MANIFEST_SUM: &str = "MANIFEST.json.sha256";
/// The format `write` produces; `read` refuses a newer one.
pub const FORMAT: u32 = 1;
/// The most a member other than `large` may hold: key files and the manifest are small,
/// and they are kept in memory until the whole archive has been checked.
const SMALL_MAX: u64 = 1 << 20;
/// The most all of them together may hold.
const SMALL_TOTAL_MAX: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive is truncated, altered or not a sesame backup; says which check failed.
    #[error("{0}")]
    Damaged(String),
    /// Writing the large member out failed (a full disk).
    #[error("{0}")]
    Write(#[source] io::Error),
}

fn damaged(what: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Damaged(what.to_string())
}

/// A read that failed inside the gzip or tar framing.
fn broken(e: io::Error) -> ArchiveError {
    damaged(format!("{e} (the file is truncated or altered)"))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    /// The sesame version that made it.
    pub sesame: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub members: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// A member to write: its name in the archive, its mode there, and its bytes.
pub struct Member {
    pub name: String,
    pub mode: u32,
    pub data: Data,
}

pub enum Data {
    File(PathBuf),
    Bytes(Vec<u8>),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 and length of everything `r` yields, copied to `out` on the way.
fn hash_copy(mut r: impl Read, out: &mut impl Write) -> io::Result<(String, u64)> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let got = r.read(&mut buf)?;
        if got == 0 {
            return Ok((hex(&hash.finalize()), n));
        }
        hash.update(&buf[..got]);
        out.write_all(&buf[..got])?;
        n += got as u64;
    }
}

fn sum_line(manifest: &[u8]) -> String {
    format!("{}  {MANIFEST}\n", hex(&Sha256::digest(manifest)))
}

/// Writes the archive to `out` (which the caller created, with its mode) and syncs it.
pub fn write(out: File, members: &[Member], created_at: &str) -> io::Result<Manifest> {
    let mut entries = Vec::with_capacity(members.len());
    for m in members {
        let (sha256, size) = match &m.data {
            Data::File(path) => hash_copy(File::open(path)?, &mut io::sink()),
            Data::Bytes(b) => hash_copy(b.as_slice(), &mut io::sink()),
        }?;
        entries.push(Entry {
            name: m.name.clone(),
            size,
            sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT,
        sesame: env!("CARGO_PKG_VERSION").to_string(),
        created_at: created_at.to_string(),
        members: entries,
    };
    let json = serde_json::to_vec_pretty(&manifest)?;
    let mut tar = tar::Builder::new(GzEncoder::new(out, flate2::Compression::default()));
    let mut append = |name: &str, mode: u32, size: u64, data: &mut dyn Read| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
        tar.append_data(&mut header, name, data)
    };
    append(MANIFEST, 0o600, json.len() as u64, &mut json.as_slice())?;
    for (m, e) in members.iter().zip(&manifest.members) {
        match &m.data {
            // Exactly the bytes that were hashed: a file that changed since is caught on
            // restore, and `take` keeps the header's size true.
            Data::File(path) => {
                let f = File::open(path)?;
                append(&m.name, m.mode, e.size, &mut f.take(e.size))
            }
            Data::Bytes(b) => append(&m.name, m.mode, e.size, &mut b.as_slice()),
        }?;
    }
    let sum = sum_line(&json);
    append(MANIFEST_SUM, 0o644, sum.len() as u64, &mut sum.as_bytes())?;
    let file = tar.into_inner().and_then(GzEncoder::finish)?;
    file.sync_all()?;
    Ok(manifest)
}

/// What a checked archive holds: the manifest, and every member but `large` in memory.
#[derive(Debug)]
pub struct Contents {
    pub manifest: Manifest,
    pub small: BTreeMap<String, Vec<u8>>,
}

/// Reads and checks the whole archive. The member named `large` (the database) streams to
/// `large_out` (`None`: checked and dropped); every other member must be small.
pub fn read(
    input: File,
    large: &str,
    mut large_out: Option<&mut File>,
) -> Result<Contents, ArchiveError> {
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(input)));
    let mut entries = tar.entries().map_err(broken)?;
    let mut next = |what: &str| match entries.next() {
        Some(entry) => entry.map_err(broken),
        None => Err(damaged(format!("it ends before {what}: truncated?"))),
    };

    let mut first = next(MANIFEST)?;
    if path_of(&first)? != MANIFEST {
        return Err(damaged(format!("its first member is not {MANIFEST}")));
    }
    let json = small(&mut first, MANIFEST)?;
    let manifest: Manifest = serde_json::from_slice(&json)
        .map_err(|e| damaged(format!("{MANIFEST} cannot be read: {e}")))?;
    if manifest.format > FORMAT {
        return Err(damaged(format!(
            "it is format {} (from sesame {}); this sesame reads format {FORMAT} and older",
            manifest.format, manifest.sesame
        )));
    }
    let mut expected: BTreeMap<&str, &Entry> = BTreeMap::new();
    for e in &manifest.members {
        if expected.insert(&e.name, e).is_some() {
            return Err(damaged(format!("{MANIFEST} names {} twice", e.name)));
        }
    }

    let mut held = BTreeMap::new();
    let mut held_bytes = 0;
    loop {
        let mut entry = next(MANIFEST_SUM)?;
        let name = path_of(&entry)?;
        if name == MANIFEST_SUM {
            let sum = small(&mut entry, MANIFEST_SUM)?;
            if sum != sum_line(&json).as_bytes() {
                return Err(damaged(format!(
                    "{MANIFEST} does not match its checksum in {MANIFEST_SUM}"
                )));
            }
            break;
        }
        let Some(e) = expected.remove(name.as_str()) else {
            return Err(damaged(format!(
                "it holds {name:?} without an entry in {MANIFEST}, or twice"
            )));
        };
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(damaged(format!("{name} is not a regular file")));
        }
        let (sha256, size) = if name == large {
            match large_out.as_deref_mut() {
                Some(out) => hash_copy(&mut entry, out).map_err(|e| match e.kind() {
                    io::ErrorKind::WriteZero | io::ErrorKind::StorageFull => ArchiveError::Write(e),
                    _ => broken(e),
                })?,
                None => hash_copy(&mut entry, &mut io::sink()).map_err(broken)?,
            }
        } else {
            let bytes = small(&mut entry, &name)?;
            let sum = (hex(&Sha256::digest(&bytes)), bytes.len() as u64);
            held_bytes += bytes.len();
            if held_bytes > SMALL_TOTAL_MAX {
                return Err(damaged("its key files are larger than key files can be"));
            }
            held.insert(name.clone(), bytes);
            sum
        };
        if size != e.size {
            return Err(damaged(format!(
                "{name} holds {size} bytes where {MANIFEST} says {}: truncated?",
                e.size
            )));
        }
        if sha256 != e.sha256 {
            return Err(damaged(format!(
                "{name} does not match its SHA-256 in {MANIFEST}"
            )));
        }
    }
    if let Some(missing) = expected.keys().next() {
        return Err(damaged(format!("{missing} is missing")));
    }
    if let Some(extra) = entries.next() {
        let name = extra.map_err(broken).and_then(|e| path_of(&e))?;
        return Err(damaged(format!("{name:?} follows {MANIFEST_SUM}")));
    }
    // Reading the rest makes the decoder check the gzip trailer.
    io::copy(&mut tar.into_inner(), &mut io::sink()).map_err(broken)?;
    Ok(Contents {
        manifest,
        small: held,
    })
}

fn path_of<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String, ArchiveError> {
    let path = entry.path().map_err(damaged)?;
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| damaged("a member's name is not UTF-8"))
}

fn small(r: &mut impl Read, name: &str) -> Result<Vec<u8>, ArchiveError> {
    let mut bytes = Vec::new();
    r.take(SMALL_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(broken)?;
    if bytes.len() as u64 > SMALL_MAX {
        return Err(damaged(format!("{name} is larger than a key file can be")));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &std::path::Path) -> PathBuf {
        let db = dir.join("db");
        std::fs::write(&db, vec![7u8; 200_000]).unwrap();
        let out = dir.join("b.tar.gz");
        let members = vec![
            Member {
                name: "sesame.db".into(),
                mode: 0o600,
                data: Data::File(db),
            },
            Member {
                name: "certs/idp-signing.key".into(),
                mode: 0o600,
                data: Data::Bytes(b"PRIVATE".to_vec()),
            },
        ];
        let f = File::create(&out).unwrap();
        let m = write(f, &members, "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(m.members.len(), 2);
        out
    }

    fn read_bytes(bytes: &[u8], dir: &std::path::Path) -> Result<Contents, ArchiveError> {
        let p = dir.join("x.tar.gz");
        std::fs::write(&p, bytes).unwrap();
        read(File::open(&p).unwrap(), "sesame.db", None)
    }

    /// The tar stream inside, to edit and compress again (damage that gzip cannot see).
    fn tar_of(path: &std::path::Path) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(File::open(path).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn gz(tar: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(tar).unwrap();
        e.finish().unwrap()
    }

    fn find(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).position(|w| w == needle).unwrap()
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let out = sample(dir.path());
        let copy = dir.path().join("restored");
        let mut f = File::create(&copy).unwrap();
        let c = read(File::open(&out).unwrap(), "sesame.db", Some(&mut f)).unwrap();
        assert_eq!(std::fs::read(copy).unwrap(), vec![7u8; 200_000]);
        assert_eq!(c.small["certs/idp-signing.key"], b"PRIVATE");
        assert_eq!(c.manifest.format, FORMAT);
    }

    #[test]
    fn truncation_and_bit_flips_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(sample(dir.path())).unwrap();
        for cut in [10, bytes.len() / 2, bytes.len() - 4, bytes.len() - 1] {
            let e = read_bytes(&bytes[..cut], dir.path()).unwrap_err();
            assert!(matches!(e, ArchiveError::Damaged(_)), "cut at {cut}: {e}");
        }
        let mut flipped = bytes.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x40;
        assert!(read_bytes(&flipped, dir.path()).is_err());
    }

    #[test]
    fn an_edited_member_or_manifest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_of(&sample(dir.path()));

        let mut edited = tar.clone();
        let at = find(&edited, b"PRIVATE");
        edited[at] = b'X';
        let e = read_bytes(&gz(&edited), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("certs/idp-signing.key does not match its SHA-256"),
            "{e}"
        );

        let mut edited = tar.clone();
        let at = find(&edited, b"2026-01-01");
        edited[at + 3] = b'7';
        let e = read_bytes(&gz(&edited), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("MANIFEST.json does not match its checksum"),
            "{e}"
        );

        // The archive cut after a whole member, framed again as a valid gzip stream.
        let at = find(&tar, b"MANIFEST.json.sha256") - 1;
        let header = at - at % 512;
        let e = read_bytes(&gz(&tar[..header]), dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}
