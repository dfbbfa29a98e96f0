//! The index of a tar stream as it passes by: every entry's path, kind, size, mode, owner and,
//! for files, the sha256 of its contents. Parsed (by the `tar` crate) on a blocking thread fed
//! through a small channel, so a stream of any size is indexed in bounded memory while it is
//! being stored.

use super::FileEntry;
use bytes::{Buf, Bytes};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;

/// Chunks in flight between the stream and the parser.
const DEPTH: usize = 16;

pub struct Indexer {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    parsed: tokio::task::JoinHandle<Result<Vec<FileEntry>, String>>,
}

impl Default for Indexer {
    fn default() -> Self {
        Self::start()
    }
}

impl Indexer {
    pub fn start() -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(DEPTH);
        let parsed = tokio::task::spawn_blocking(move || {
            index(ChanReader {
                rx,
                cur: Bytes::new(),
            })
        });
        Self { tx, parsed }
    }

    /// A sender to hand each chunk to (a clone per stream that feeds this index).
    pub fn sender(&self) -> tokio::sync::mpsc::Sender<Bytes> {
        self.tx.clone()
    }

    /// The entries, once every sender is dropped (the stream ended).
    pub async fn finish(self) -> Result<Vec<FileEntry>, String> {
        drop(self.tx);
        self.parsed
            .await
            .map_err(|e| format!("the tar index stopped: {e}"))?
    }
}

struct ChanReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur.advance(n);
        Ok(n)
    }
}

/// `v/a/b` → `a/b`; `v` or `v/` → `.` (the archive's entries start with the root's name).
fn relative(p: &std::path::Path) -> String {
    let rest: Vec<String> = p
        .components()
        .skip(1)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if rest.is_empty() {
        ".".into()
    } else {
        rest.join("/")
    }
}

fn index(reader: ChanReader) -> Result<Vec<FileEntry>, String> {
    let mut archive = tar::Archive::new(reader);
    let mut out = Vec::new();
    let parsed = (|| -> std::io::Result<()> {
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = relative(&entry.path()?);
            let h = entry.header();
            let (mode, uid, gid, mtime) = (
                h.mode()? & 0o7777,
                h.uid()?,
                h.gid()?,
                h.mtime().unwrap_or(0),
            );
            let t = h.entry_type();
            let link = entry.link_name()?.map(|l| l.to_string_lossy().into_owned());
            let (kind, link, size, sha256) = if t.is_file() {
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 64 * 1024];
                let mut size = 0u64;
                loop {
                    let n = entry.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    size += n as u64;
                }
                ("file", None, size, Some(format!("{:x}", hasher.finalize())))
            } else if t.is_dir() {
                ("dir", None, 0, None)
            } else if t.is_symlink() {
                ("symlink", link, 0, None)
            } else if t.is_hard_link() {
                let target = link.map(|l| relative(std::path::Path::new(&l)));
                ("hardlink", target, 0, None)
            } else {
                ("other", None, 0, None)
            };
            out.push(FileEntry {
                path,
                kind: kind.into(),
                size,
                mode,
                uid,
                gid,
                sha256,
                link,
                mtime,
            });
        }
        Ok(())
    })();
    // Whatever follows (padding, or the rest after an error) is read, so the stream that
    // feeds this never waits on a parser that stopped.
    let mut rest = archive.into_inner();
    let _ = std::io::copy(&mut rest, &mut std::io::sink());
    parsed.map_err(|e| format!("not a readable tar: {e}"))?;
    if out.is_empty() {
        return Err("the tar has no entries".into());
    }
    Ok(out)
}

/// The ustar header of one regular file `path` of `size` bytes (root-owned, `mode`); the
/// file's bytes follow it, then [`trailer`].
pub fn file_header(path: &str, size: u64, mode: u32) -> Result<Vec<u8>, String> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).map_err(|e| format!("{path}: {e}"))?;
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h.as_bytes().to_vec())
}

/// What ends a tar whose one file had `size` bytes: padding to a block, two zero blocks.
pub fn trailer(size: u64) -> Vec<u8> {
    let pad = (512 - (size % 512) as usize) % 512;
    vec![0u8; pad + 1024]
}

/// What differs between a manifest's entries and a tree read back (mtime not compared);
/// at most `limit` lines, then a count of the rest.
pub fn differences(expected: &[FileEntry], got: &[FileEntry], limit: usize) -> Vec<String> {
    let want: BTreeMap<&str, &FileEntry> = expected.iter().map(|e| (e.path.as_str(), e)).collect();
    let have: BTreeMap<&str, &FileEntry> = got.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut out = Vec::new();
    for (path, w) in &want {
        match have.get(path) {
            None => out.push(format!("{path}: missing")),
            Some(h) => {
                let mut what = Vec::new();
                if w.kind != h.kind {
                    what.push(format!("is a {} (expected a {})", h.kind, w.kind));
                } else {
                    if w.size != h.size {
                        what.push(format!("size {} (expected {})", h.size, w.size));
                    }
                    if w.sha256 != h.sha256 {
                        what.push("contents differ (sha256)".to_string());
                    }
                    if w.link != h.link {
                        what.push(format!("points at {:?} (expected {:?})", h.link, w.link));
                    }
                }
                if w.mode != h.mode {
                    what.push(format!("mode {:o} (expected {:o})", h.mode, w.mode));
                }
                if (w.uid, w.gid) != (h.uid, h.gid) {
                    what.push(format!(
                        "owner {}:{} (expected {}:{})",
                        h.uid, h.gid, w.uid, w.gid
                    ));
                }
                if !what.is_empty() {
                    out.push(format!("{path}: {}", what.join(", ")));
                }
            }
        }
    }
    for path in have.keys() {
        if !want.contains_key(path) {
            out.push(format!("{path}: not in the manifest"));
        }
    }
    if out.len() > limit {
        let more = out.len() - limit;
        out.truncate(limit);
        out.push(format!("… and {more} more"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o640);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, p, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[tokio::test]
    async fn indexes_a_stream_in_small_chunks_and_finds_differences() {
        let long = format!("v/{}/ü.txt", "d".repeat(150));
        let bytes = tar_of(&[("v/a.txt", b"hello"), (&long, b"x")]);
        let ix = Indexer::start();
        let tx = ix.sender();
        for c in bytes.chunks(7) {
            tx.send(Bytes::copy_from_slice(c)).await.unwrap();
        }
        drop(tx);
        let got = ix.finish().await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].path, "a.txt");
        assert_eq!(got[0].size, 5);
        assert_eq!(got[0].mode, 0o640);
        assert_eq!(
            got[0].sha256.as_deref(),
            Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        assert_eq!(got[1].path, long.trim_start_matches("v/"));
        assert!(differences(&got, &got, 10).is_empty());
        let mut changed = got.clone();
        changed[0].sha256 = Some("0".repeat(64));
        changed.remove(1);
        let d = differences(&got, &changed, 10);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("a.txt: contents differ"), "{d:?}");
        assert!(d[1].ends_with(": missing"), "{d:?}");
    }

    #[tokio::test]
    async fn a_file_header_and_trailer_make_a_tar() {
        let mut bytes = file_header("data/dump.rdb", 5, 0o644).unwrap();
        bytes.extend_from_slice(b"REDIS");
        bytes.extend(trailer(5));
        assert_eq!(bytes.len() % 512, 0);
        let ix = Indexer::start();
        ix.sender().send(Bytes::from(bytes)).await.unwrap();
        let got = ix.finish().await.unwrap();
        assert_eq!((got[0].path.as_str(), got[0].size), ("dump.rdb", 5));
    }

    #[tokio::test]
    async fn garbage_is_not_a_tar() {
        let ix = Indexer::start();
        let tx = ix.sender();
        tx.send(Bytes::from(vec![7u8; 2048])).await.unwrap();
        drop(tx);
        assert!(ix.finish().await.is_err());
    }
}
