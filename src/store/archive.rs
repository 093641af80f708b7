//! Archives of run folders: one gzip stream per run (`DATA/archive/RUN-0001.esra.gz`) holding
//! every file of the folder in a small tar-like layout of our own — a text header per entry
//! followed by the file's bytes — so restoring gives the folder back byte for byte without a
//! tar crate.
//!
//! Layout (after gunzip): `esr-archive 1\n`, then per entry either `D <path>\n` (a folder) or
//! `F <size> <path>\n` followed by exactly `size` bytes, then `E\n`. Paths are relative,
//! `/`-separated, sorted; they never hold `..`, a leading `/` or a newline.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::StoreError;

const MAGIC: &str = "esr-archive 1";
/// File name suffix of an archived run.
pub const SUFFIX: &str = ".esra.gz";

/// Packs every file under `dir` into `out` (written via a temp file and renamed, so a crash
/// never leaves a half archive under the final name).
pub fn pack(dir: &Path, out: &Path) -> Result<(), StoreError> {
    let mut entries = Vec::new();
    walk(dir, Path::new(""), &mut entries)?;
    let parent = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".esr-archive-")
        .tempfile_in(parent)
        .map_err(|e| StoreError::io(parent, e))?;
    let mut gz = GzEncoder::new(BufWriter::new(tmp.as_file()), Compression::default());
    let werr = |e| StoreError::io(out, e);
    writeln!(gz, "{MAGIC}").map_err(werr)?;
    for (rel, is_dir) in &entries {
        let name = rel_name(rel)?;
        if *is_dir {
            writeln!(gz, "D {name}").map_err(werr)?;
            continue;
        }
        let path = dir.join(rel);
        let mut f = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        let size = f.metadata().map_err(|e| StoreError::io(&path, e))?.len();
        writeln!(gz, "F {size} {name}").map_err(werr)?;
        let copied = std::io::copy(&mut (&mut f).take(size), &mut gz).map_err(werr)?;
        if copied != size {
            return Err(StoreError::Archive(format!(
                "`{}` changed size while being archived",
                path.display()
            )));
        }
    }
    writeln!(gz, "E").map_err(werr)?;
    gz.finish().and_then(|mut w| w.flush()).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    tmp.persist(out).map_err(|e| StoreError::io(out, e.error))?;
    Ok(())
}

/// Unpacks `archive` into a new folder `dir` (which must not exist): written into a sibling
/// temp folder first and renamed, so `dir` appears whole or not at all.
pub fn unpack(archive: &Path, dir: &Path) -> Result<(), StoreError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".esr-restore-")
        .tempdir_in(parent)
        .map_err(|e| StoreError::io(parent, e))?;
    let f = File::open(archive).map_err(|e| StoreError::io(archive, e))?;
    let mut r = BufReader::new(GzDecoder::new(f));
    let bad = |what: &str| {
        StoreError::Archive(format!(
            "`{}` is not a valid esr archive ({what}); restore it from a backup",
            archive.display()
        ))
    };
    let rerr = |e| StoreError::io(archive, e);
    let mut line = String::new();
    r.read_line(&mut line).map_err(rerr)?;
    if line.trim_end() != MAGIC {
        return Err(bad("unknown header"));
    }
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(rerr)? == 0 {
            return Err(bad("truncated"));
        }
        let l = line.trim_end_matches('\n');
        if l == "E" {
            break;
        }
        if let Some(name) = l.strip_prefix("D ") {
            let p = tmp
                .path()
                .join(safe_rel(name).ok_or_else(|| bad("bad path"))?);
            std::fs::create_dir_all(&p).map_err(|e| StoreError::io(&p, e))?;
        } else if let Some(rest) = l.strip_prefix("F ") {
            let (size, name) = rest.split_once(' ').ok_or_else(|| bad("bad entry"))?;
            let size: u64 = size.parse().map_err(|_| bad("bad size"))?;
            let p = tmp
                .path()
                .join(safe_rel(name).ok_or_else(|| bad("bad path"))?);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| StoreError::io(d, e))?;
            }
            let mut out = File::create(&p).map_err(|e| StoreError::io(&p, e))?;
            let n = std::io::copy(&mut (&mut r).take(size), &mut out).map_err(rerr)?;
            if n != size {
                return Err(bad("truncated"));
            }
        } else {
            return Err(bad("bad entry"));
        }
    }
    let tmp = tmp.keep();
    std::fs::rename(&tmp, dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        StoreError::io(dir, e)
    })
}

/// Files and folders under `dir`, relative, sorted, folders before their contents.
fn walk(dir: &Path, rel: &Path, out: &mut Vec<(PathBuf, bool)>) -> Result<(), StoreError> {
    let here = dir.join(rel);
    let mut names: Vec<_> = std::fs::read_dir(&here)
        .map_err(|e| StoreError::io(&here, e))?
        .filter_map(|e| e.ok())
        .collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let r = rel.join(e.file_name());
        let ty = e.file_type().map_err(|er| StoreError::io(&e.path(), er))?;
        if ty.is_dir() {
            out.push((r.clone(), true));
            walk(dir, &r, out)?;
        } else if ty.is_file() {
            out.push((r, false));
        }
        // Symlinks and other special files are never written by a run; skip them.
    }
    Ok(())
}

fn rel_name(rel: &Path) -> Result<String, StoreError> {
    let parts: Option<Vec<&str>> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    match parts {
        Some(p) if p.iter().all(|s| !s.contains('\n')) => Ok(p.join("/")),
        _ => Err(StoreError::Archive(format!(
            "cannot archive `{}`: its name is not plain UTF-8",
            rel.display()
        ))),
    }
}

/// A relative path from an archive, refused when it could climb out of the folder.
fn safe_rel(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(name);
    let ok = !name.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v = Vec::new();
        let mut entries = Vec::new();
        walk(dir, Path::new(""), &mut entries).unwrap();
        for (rel, is_dir) in entries {
            let bytes = if is_dir {
                Vec::new()
            } else {
                std::fs::read(dir.join(&rel)).unwrap()
            };
            v.push((rel_name(&rel).unwrap(), bytes));
        }
        v
    }

    #[test]
    fn pack_then_unpack_gives_the_same_bytes() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("RUN-0001");
        std::fs::create_dir_all(src.join("sub/empty")).unwrap();
        std::fs::write(src.join("a.json"), b"{\"x\":1}\n").unwrap();
        std::fs::write(
            src.join("sub/bin"),
            (0..=255u8).cycle().take(70_000).collect::<Vec<_>>(),
        )
        .unwrap();
        std::fs::write(src.join("empty.txt"), b"").unwrap();
        let arc = t.path().join("archive/RUN-0001.esra.gz");
        pack(&src, &arc).unwrap();
        let back = t.path().join("restored");
        unpack(&arc, &back).unwrap();
        assert_eq!(tree(&src), tree(&back));
        assert!(back.join("sub/empty").is_dir());
    }

    #[test]
    fn a_damaged_or_hostile_archive_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let arc = t.path().join("x.esra.gz");
        let mut gz = GzEncoder::new(File::create(&arc).unwrap(), Compression::fast());
        write!(gz, "{MAGIC}\nF 1 ../evil\nx\nE\n").unwrap();
        gz.finish().unwrap();
        let err = unpack(&arc, &t.path().join("out")).unwrap_err();
        assert!(err.to_string().contains("bad path"), "{err}");
        assert!(!t.path().join("evil").exists() && !t.path().join("out").exists());

        let mut gz = GzEncoder::new(File::create(&arc).unwrap(), Compression::fast());
        write!(gz, "{MAGIC}\nF 10 a\nxy").unwrap();
        gz.finish().unwrap();
        let err = unpack(&arc, &t.path().join("out")).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
