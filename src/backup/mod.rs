//! `sesame backup` and `restore` (issue 15): one archive file (`archive`) holding the SQLite
//! database as of one instant and the key files of `certs_dir` (`keyfiles`): the signing
//! keys, which every SP pins, and `secrets.key`, without which the stored SCIM credentials
//! cannot be opened. Neither half is any use without the other.
//!
//! A backup runs beside `serve`: `VACUUM INTO` copies the database inside one read
//! transaction, so the copy is every change committed before that instant and none after,
//! while the server goes on writing. The configuration is not in the archive (nor
//! `secret_key`, when it is set there), and PostgreSQL is backed up with its own tools.
//!
//! A restore reads and checks the whole archive before it changes anything, refuses while
//! a process has the database open, and replaces existing data only when told to, moving
//! it aside rather than deleting it.

pub mod archive;
mod keyfiles;

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use archive::{ArchiveError, Data, Manifest, Member};
use keyfiles::KeyFile;

use crate::store::{snapshot, Backend, StoreError};

/// The database's name in the archive, whatever the file is called.
pub const DATABASE: &str = "sesame.db";
/// Key files are kept under this folder in the archive.
const CERTS: &str = "certs/";
/// The shared signing key: a backup without it was taken with the wrong `certs_dir`.
const SIGNING_KEY: &str = "idp-signing.key";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "backup and restore work on a SQLite database; on PostgreSQL use pg_dump and \
         pg_restore, and copy certs_dir (README, \"Backups\")"
    )]
    Postgres,
    #[error("database_url names an in-memory database: there is nothing to back up or restore")]
    InMemory,
    #[error("no database at {0}: is database_url the one `sesame serve` uses?")]
    NoDatabase(PathBuf),
    #[error("no signing key in {0}: is certs_dir the one `sesame serve` uses?")]
    NoSigningKey(PathBuf),
    #[error("{0} already exists (--force replaces it)")]
    Exists(PathBuf),
    #[error("{0} is open in another process (a running `sesame serve`?): stop it first")]
    InUse(PathBuf),
    #[error(
        "there is already {0}: restore replaces existing data only with --force, which \
         moves it aside (nothing is deleted)"
    )]
    Occupied(String),
    #[error("{file} is damaged or not a sesame backup: {reason}")]
    Damaged { file: PathBuf, reason: String },
    #[error("the copy of the database fails SQLite's integrity check: {0}")]
    Corrupt(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the data lives: the SQLite file and `certs_dir`.
#[derive(Debug, Clone)]
pub struct Place {
    pub database: PathBuf,
    pub certs_dir: PathBuf,
}

impl Place {
    pub fn new(database_url: &str, certs_dir: &Path) -> Result<Place, BackupError> {
        match Backend::from_url(database_url)? {
            Backend::Postgres => Err(BackupError::Postgres),
            Backend::Sqlite => Ok(Place {
                database: crate::store::sqlite_file(database_url).ok_or(BackupError::InMemory)?,
                certs_dir: certs_dir.to_path_buf(),
            }),
        }
    }

    /// The database file and the two SQLite keeps beside it in WAL mode.
    fn database_files(&self) -> [PathBuf; 3] {
        let with = |suffix: &str| {
            let mut name = self.database.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        [self.database.clone(), with("-wal"), with("-shm")]
    }
}

/// A private scratch folder (0700) beside a destination, so that what is made in it can
/// be renamed into place; removed with whatever is left in it.
struct Scratch(PathBuf);

impl Scratch {
    fn beside(target: &Path, what: &str) -> Result<Scratch, BackupError> {
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        let path = dir.join(format!(".sesame-{what}-{}", std::process::id()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path).map_err(io_at(&path))?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new file with `mode` from the start (never readable by others, even briefly).
fn create_private(path: &Path) -> Result<File, BackupError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(io_at(path))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Writes a backup of `place` to `out` (mode 0600), replacing an existing file only with
/// `replace`. The archive appears under its name only once it is complete.
pub async fn create(
    place: &Place,
    out: &Path,
    replace: bool,
    wait: Duration,
) -> Result<Manifest, BackupError> {
    if !place.database.is_file() {
        return Err(BackupError::NoDatabase(place.database.clone()));
    }
    if !replace && out.exists() {
        return Err(BackupError::Exists(out.to_path_buf()));
    }
    let scratch = Scratch::beside(out, "backup")?;
    let copy = scratch.0.join(DATABASE);
    let copy_name = copy.to_str().ok_or_else(|| BackupError::Io {
        path: copy.clone(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "the path is not UTF-8"),
    })?;
    let created_at = now();
    snapshot::copy(&place.database, copy_name, wait).await?;
    let problems = snapshot::problems(&copy).await?;
    if !problems.is_empty() {
        return Err(BackupError::Corrupt(problems.join("; ")));
    }
    let keys = keyfiles::list(&place.certs_dir).map_err(io_at(&place.certs_dir))?;
    if !keys.iter().any(|k| k.rel == SIGNING_KEY) {
        return Err(BackupError::NoSigningKey(place.certs_dir.clone()));
    }
    let mut members = vec![Member {
        name: DATABASE.into(),
        mode: 0o600,
        data: Data::File(copy.clone()),
    }];
    for k in &keys {
        members.push(Member {
            name: format!("{CERTS}{}", k.rel),
            mode: keyfiles::mode(&k.rel),
            data: Data::Bytes(std::fs::read(&k.path).map_err(io_at(&k.path))?),
        });
    }
    let partial = scratch.0.join("archive");
    let manifest =
        archive::write(create_private(&partial)?, &members, &created_at).map_err(io_at(out))?;
    std::fs::rename(&partial, out).map_err(io_at(out))?;
    Ok(manifest)
}

/// The archive's members, checked: the database and the key files (by path under
/// `certs_dir`), nothing else.
fn key_members(file: &Path, c: &archive::Contents) -> Result<Vec<(String, Vec<u8>)>, BackupError> {
    let damaged = |reason: String| BackupError::Damaged {
        file: file.to_path_buf(),
        reason,
    };
    if !c.manifest.members.iter().any(|m| m.name == DATABASE) {
        return Err(damaged(format!("it holds no {DATABASE}")));
    }
    let mut keys = Vec::new();
    for (name, bytes) in &c.small {
        match name
            .strip_prefix(CERTS)
            .filter(|r| keyfiles::is_key_path(r))
        {
            Some(rel) => keys.push((rel.to_string(), bytes.clone())),
            None => return Err(damaged(format!("{name:?} is not a key file"))),
        }
    }
    Ok(keys)
}

/// Reads and checks the archive at `file`, the database going to `staged` (a path and the
/// file open there) or nowhere.
fn read_archive(
    file: &Path,
    staged: Option<(&Path, &mut File)>,
) -> Result<archive::Contents, BackupError> {
    let input = File::open(file).map_err(io_at(file))?;
    let (path, out) = staged.unzip();
    archive::read(input, DATABASE, out).map_err(|e| match e {
        ArchiveError::Damaged(reason) => BackupError::Damaged {
            file: file.to_path_buf(),
            reason,
        },
        ArchiveError::Write(source) => BackupError::Io {
            path: path.unwrap_or(file).to_path_buf(),
            source,
        },
    })
}

/// Reads and checks the whole archive, restoring nothing.
pub fn check(file: &Path) -> Result<Manifest, BackupError> {
    let contents = read_archive(file, None)?;
    key_members(file, &contents)?;
    Ok(contents.manifest)
}

/// What `restore` did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    /// Where the data that was there before went (with `force`).
    pub moved_aside: Vec<PathBuf>,
}

async fn refuse_in_use(place: &Place) -> Result<(), BackupError> {
    if snapshot::in_use(&place.database).await? {
        return Err(BackupError::InUse(place.database.clone()));
    }
    Ok(())
}

/// What is already at `place`: the database files that exist, the key files, and what of
/// it is data (a database or its WAL that is not empty, a key file), said in words.
struct Occupants {
    /// Each with the suffix SQLite gives it after the database's name.
    files: Vec<(PathBuf, &'static str)>,
    keys: Vec<KeyFile>,
    data: Option<String>,
}

fn occupants(place: &Place) -> Result<Occupants, BackupError> {
    let [db, wal, shm] = place.database_files();
    let has_data = |p: &PathBuf| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
    let keys = keyfiles::list(&place.certs_dir).map_err(io_at(&place.certs_dir))?;
    let mut data = Vec::new();
    if has_data(&db) || has_data(&wal) {
        data.push(format!("a database at {}", db.display()));
    }
    if !keys.is_empty() {
        data.push(format!(
            "{} key file(s) in {}",
            keys.len(),
            place.certs_dir.display()
        ));
    }
    Ok(Occupants {
        files: [(db, ""), (wal, "-wal"), (shm, "-shm")]
            .into_iter()
            .filter(|(p, _)| p.exists())
            .collect(),
        keys,
        data: (!data.is_empty()).then(|| data.join(" and ")),
    })
}

/// Restores the archive at `file` into `place`. Refuses while a process has the database
/// open, and over existing data unless `force` (which moves it aside).
pub async fn restore(place: &Place, file: &Path, force: bool) -> Result<Restored, BackupError> {
    refuse_in_use(place).await?;
    if let Some(data) = occupants(place)?.data.filter(|_| !force) {
        return Err(BackupError::Occupied(data));
    }
    let scratch = Scratch::beside(&place.database, "restore")?;
    let staged = scratch.0.join(DATABASE);
    let mut out = create_private(&staged)?;
    let contents = read_archive(file, Some((&staged, &mut out)))?;
    out.sync_all().map_err(io_at(&staged))?;
    drop(out);
    let keys = key_members(file, &contents)?;

    // Checked: from here on the archive is trusted. Look again: a server may have started,
    // or written a database, meanwhile.
    refuse_in_use(place).await?;
    let there = occupants(place)?;
    if let Some(data) = there.data.clone().filter(|_| !force) {
        return Err(BackupError::Occupied(data));
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let mut moved_aside = Vec::new();
    for (from, suffix) in &there.files {
        // `x.db-wal` becomes `x.db.before-restore-T-wal`: SQLite still pairs them.
        let mut to = place.database.clone().into_os_string();
        to.push(format!(".before-restore-{stamp}{suffix}"));
        let to = PathBuf::from(to);
        if to.exists() {
            return Err(BackupError::Exists(to));
        }
        std::fs::rename(from, &to).map_err(io_at(from))?;
        moved_aside.push(to);
    }
    if !there.keys.is_empty() {
        let aside = place.certs_dir.join(format!("before-restore-{stamp}"));
        keyfiles::move_aside(&there.keys, &aside).map_err(io_at(&aside))?;
        moved_aside.push(aside);
    }
    for (rel, bytes) in &keys {
        keyfiles::put(&place.certs_dir, rel, bytes).map_err(io_at(&place.certs_dir.join(rel)))?;
    }
    // The database last: its presence means the restore finished.
    std::fs::rename(&staged, &place.database).map_err(io_at(&place.database))?;
    Ok(Restored {
        manifest: contents.manifest,
        moved_aside,
    })
}

/// What the audit trail records.
#[derive(Debug, Clone, Copy)]
pub enum Recorded {
    Backup,
    Restore,
}

/// Writes `backup_create` or `backup_restore` to the audit trail. A backup's own event
/// comes after its copy was taken, so it is never in the backup it describes.
pub async fn record(
    db: &crate::store::Db,
    actor: &crate::directory::Actor,
    what: Recorded,
    file: &Path,
    manifest: &Manifest,
) -> Result<(), crate::directory::DirectoryError> {
    let name = match what {
        Recorded::Backup => "backup_create",
        Recorded::Restore => "backup_restore",
    };
    let detail = serde_json::json!({
        "file": file.display().to_string(),
        "created_at": manifest.created_at,
        "members": manifest.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
    });
    let mut tx = db.begin().await?;
    crate::directory::audit(&mut tx, actor, name, None, None, detail).await?;
    tx.commit().await?;
    Ok(())
}
