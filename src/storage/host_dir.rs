//! `host-dir`: a directory on the database's host. The dump never leaves that host: a short
//! POSIX `sh` script there runs `docker exec CONTAINER pg_dump ...` into
//! `ID.dump.partial` (through `tee`, with `sha256sum` on the same stream), records every
//! stage's exit status, and opsdeck publishes (`mv`) only when all of them were 0. Restores
//! run `docker exec -i CONTAINER pg_restore ... < ID.dump` there too. Paths and arguments are
//! passed as positional parameters, never pasted into the script.

use super::{
    dump_name, manifest_name, partial_name, Fed, InContainer, Pending, Progress, Staged,
    StorageError,
};
use crate::host::{Cmd, ExecOutput, Host};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct HostDir<'h> {
    pub name: String,
    pub path: PathBuf,
    pub host: &'h Host,
}

/// $1 directory, $2 id, $3 container, then the dump command. Prints one line:
/// `opsdeck-dump DUMP_STATUS TEE_STATUS SHA256 SIZE`; the command's stderr goes to stderr.
const DUMP: &str = r#"umask 077
command -v docker >/dev/null || { echo "$(id -un)@$(hostname) has no docker CLI (a host-dir storage runs docker exec there)" >&2; exit 69; }
d=$1 id=$2 c=$3
shift 3
p="$d/$id.dump.partial"
mkdir -p "$d" || exit 70
[ -w "$d" ] || { echo "$d is not writable by $(id -un)" >&2; exit 70; }
# Exit statuses go beside the system's temp files, not on the (maybe full) backup disk.
t=$(mktemp -d) || exit 70
# Partial dumps of this database's earlier backups that died (its lock is held now).
db=${id%-*}
for f in "$d/$db"-*.dump.partial; do
  case ${f#"$d/$db"-} in
    [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]Z.dump.partial) rm -f "$f" ;;
  esac
done
(set -C; : >"$p") || { rm -rf "$t"; exit 71; }
sum=$( { docker exec "$c" "$@" 2>"$t/err"; echo $? >"$t/rc"; } | { tee "$p"; echo $? >"$t/tee"; } | sha256sum )
rc=$(cat "$t/rc" 2>/dev/null)
trc=$(cat "$t/tee" 2>/dev/null)
cat "$t/err" >&2 2>/dev/null
rm -rf "$t"
if [ "${rc:-none}" = 0 ] && [ "${trc:-none}" = 0 ]; then sync "$p" 2>/dev/null || sync; fi
size=$(wc -c <"$p" 2>/dev/null || echo 0)
printf 'opsdeck-dump %s %s %s %s\n' "${rc:-none}" "${trc:-none}" "${sum%% *}" "$size"
"#;

/// $1 the dump, $2 container, then the restore command (fed the dump on stdin). The last
/// stdout line is `opsdeck-fed STATUS SHA256 SIZE`.
const FEED: &str = r#"command -v docker >/dev/null || { echo "$(id -un)@$(hostname) has no docker CLI (a host-dir storage runs docker exec there)" >&2; exit 69; }
f=$1 c=$2
shift 2
[ -f "$f" ] || { echo "no such file: $f" >&2; exit 66; }
sum=$(sha256sum <"$f") || exit 67
size=$(wc -c <"$f")
docker exec -i "$c" "$@" <"$f"
rc=$?
printf '\nopsdeck-fed %s %s %s\n' "$rc" "${sum%% *}" "$size"
"#;

/// $1 directory: every manifest whose dump is beside it, each followed by a line holding
/// only an ASCII record separator.
const MANIFESTS: &str = r#"[ -e "$1" ] || exit 0
cd "$1" || exit 1
for f in *.json; do
  [ -f "$f" ] && [ -f "${f%.json}.dump" ] || continue
  cat "$f" && printf '\n\036\n'
done
"#;

const RS: &str = "\n\u{1e}\n";

impl<'h> HostDir<'h> {
    pub fn new(name: &str, path: &str, host: &'h Host) -> Self {
        Self {
            name: name.to_string(),
            path: PathBuf::from(path),
            host,
        }
    }

    fn failed(&self, what: impl std::fmt::Display) -> StorageError {
        StorageError::failed(&self.name, format!("{}: {what}", self.host.name()))
    }

    fn at(&self, name: String) -> String {
        self.path.join(name).display().to_string()
    }

    /// `sh -c SCRIPT` on the host, with the host's Docker socket for the `docker` CLI.
    fn script(&self, script: &str, args: &[String]) -> Cmd {
        let mut cmd = Cmd::new("sh")
            .args(["-c", script, "opsdeck"])
            .args(args.iter().cloned());
        if let Some(sock) = &self.host.spec().docker_socket {
            cmd = cmd.env("DOCKER_HOST", format!("unix://{sock}"));
        }
        cmd
    }

    async fn run(&self, cmd: &Cmd) -> Result<ExecOutput, StorageError> {
        self.host
            .exec(cmd, &CancellationToken::new())
            .await
            .map_err(|e| self.failed(e))
    }

    async fn simple(&self, program: &str, args: &[String]) -> Result<(), StorageError> {
        let cmd = Cmd::new(program)
            .args(args.iter().cloned())
            .timeout(Duration::from_secs(120));
        let out = self.run(&cmd).await?;
        if out.success() {
            Ok(())
        } else {
            Err(self.failed(format!(
                "{} failed: {}",
                cmd.display(),
                out.stderr_str().trim()
            )))
        }
    }

    pub async fn dump(
        &self,
        src: InContainer<'_>,
        id: &str,
        progress: Progress<'_>,
    ) -> Result<Staged, StorageError> {
        let mut args = vec![
            self.path.display().to_string(),
            id.to_string(),
            src.container.to_string(),
        ];
        args.extend(src.argv.iter().cloned());
        let cmd = self.script(DUMP, &args);
        let partial = self.at(partial_name(id));
        // The size of the partial file, for live progress, while the script runs.
        let watch = async {
            let stat = Cmd::new("stat")
                .args(["-c", "%s", partial.as_str()])
                .timeout(Duration::from_secs(30));
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Ok(out) = self.host.exec(&stat, &CancellationToken::new()).await {
                    if let Ok(n) = out.stdout_str().trim().parse::<u64>() {
                        progress(n);
                    }
                }
            }
        };
        let out = tokio::select! {
            out = self.run(&cmd) => out,
            _ = watch => unreachable!("the progress watch never ends"),
        };
        let result = match out {
            Ok(out) => parse_dump(&out, super::program(&src.argv)).map_err(|e| self.failed(e)),
            Err(e) => Err(self.failed(e)),
        };
        match result {
            Ok((size, sha256)) => {
                progress(size);
                Ok(Staged {
                    size,
                    sha256,
                    pending: Pending::File,
                })
            }
            Err(e) => {
                self.discard(id).await;
                Err(e)
            }
        }
    }

    pub async fn publish(&self, id: &str) -> Result<(), StorageError> {
        let r = self
            .simple(
                "mv",
                &[
                    "-f".into(),
                    "--".into(),
                    self.at(partial_name(id)),
                    self.at(dump_name(id)),
                ],
            )
            .await;
        if r.is_err() {
            self.discard(id).await;
        }
        r
    }

    pub async fn discard(&self, id: &str) {
        let _ = self
            .simple("rm", &["-f".into(), "--".into(), self.at(partial_name(id))])
            .await;
    }

    pub async fn feed(
        &self,
        id: &str,
        into: InContainer<'_>,
        progress: Progress<'_>,
    ) -> Result<Fed, StorageError> {
        let mut args = vec![self.at(dump_name(id)), into.container.to_string()];
        args.extend(into.argv.iter().cloned());
        let out = self.run(&self.script(FEED, &args)).await?;
        if out.status == 66 {
            return Err(StorageError::not_found(&self.name, id));
        }
        let text = out.stdout_str();
        let (body, trailer) = text
            .trim_end()
            .rsplit_once('\n')
            .unwrap_or(("", text.trim_end()));
        let parts: Vec<&str> = trailer.split_whitespace().collect();
        match parts.as_slice() {
            ["opsdeck-fed", code, sha, size] => {
                let size = size.parse().unwrap_or(0);
                progress(size);
                Ok(Fed {
                    code: code.parse().unwrap_or(-1),
                    stdout: body.to_string(),
                    stderr: out.stderr_str(),
                    sha256: sha.to_string(),
                    size,
                })
            }
            _ => Err(self.failed(format!(
                "feeding {id} into {} failed (exit {}): {}",
                super::program(&into.argv),
                out.status,
                out.stderr_str().trim()
            ))),
        }
    }

    pub async fn read_manifest(&self, id: &str) -> Result<Vec<u8>, StorageError> {
        let p = self.path.join(manifest_name(id));
        self.host
            .read_optional(&p)
            .await
            .map_err(|e| self.failed(e))?
            .ok_or_else(|| StorageError::not_found(&self.name, id))
    }

    pub async fn write_manifest(&self, id: &str, json: &[u8]) -> Result<(), StorageError> {
        let p = self.path.join(manifest_name(id));
        self.host
            .write_file_atomic(&p, json, Some(0o600))
            .await
            .map_err(|e| self.failed(e))
    }

    pub async fn manifests(&self) -> Result<Vec<Vec<u8>>, StorageError> {
        let out = self
            .run(
                &self
                    .script(MANIFESTS, &[self.path.display().to_string()])
                    .timeout(Duration::from_secs(120)),
            )
            .await?;
        if !out.success() {
            return Err(self.failed(format!(
                "listing {}: {}",
                self.path.display(),
                out.stderr_str().trim()
            )));
        }
        Ok(out
            .stdout_str()
            .split(RS)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect())
    }

    pub async fn delete(&self, id: &str) -> Result<(), StorageError> {
        self.simple(
            "rm",
            &[
                "-f".into(),
                "--".into(),
                self.at(dump_name(id)),
                self.at(manifest_name(id)),
            ],
        )
        .await
    }
}

/// Why the dump script on the host did not store a whole dump: the failing stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ScriptError {
    #[error("the dump did not start (exit {status}): {stderr}")]
    NotStarted { status: String, stderr: String },
    /// `what` is "unexpected output", "no sha256" or "no size".
    #[error("{what} from the dump script: {line:?}")]
    BadLine { what: &'static str, line: String },
    #[error("{program} exited with {code}: {stderr}")]
    Exited {
        program: String,
        code: String,
        stderr: String,
    },
    #[error("writing the dump failed: {stderr}")]
    WriteFailed { stderr: String },
}

/// Read the dump script's result line; an error names the failing stage.
fn parse_dump(out: &ExecOutput, program: &str) -> Result<(u64, String), ScriptError> {
    let text = out.stdout_str();
    let err = out.stderr_str();
    let stderr = err.trim().to_string();
    let line = text.lines().rev().find(|l| l.starts_with("opsdeck-dump "));
    let Some(line) = line else {
        return Err(ScriptError::NotStarted {
            status: out.status.to_string(),
            stderr,
        });
    };
    let bad = |what| ScriptError::BadLine {
        what,
        line: line.to_string(),
    };
    let f: Vec<&str> = line.split_whitespace().collect();
    let (rc, trc, sha, size) = match f.as_slice() {
        [_, rc, trc, sha, size] => (*rc, *trc, *sha, *size),
        _ => return Err(bad("unexpected output")),
    };
    if rc != "0" {
        return Err(ScriptError::Exited {
            program: program.to_string(),
            code: rc.to_string(),
            stderr,
        });
    }
    if trc != "0" {
        return Err(ScriptError::WriteFailed { stderr });
    }
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("no sha256"));
    }
    let size = size.parse().map_err(|_| bad("no size"))?;
    Ok((size, sha.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(stdout: &str, stderr: &str) -> ExecOutput {
        ExecOutput {
            status: 0,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_dump_result_names_the_failing_stage() {
        let sha = "a".repeat(64);
        assert_eq!(
            parse_dump(&out(&format!("opsdeck-dump 0 0 {sha} 42\n"), ""), "pg_dump"),
            Ok((42, sha.clone()))
        );
        let e = parse_dump(
            &out(&format!("opsdeck-dump 137 0 {sha} 10\n"), "killed"),
            "pg_dump",
        )
        .expect_err("dump failed");
        assert!(
            e.to_string().contains("pg_dump exited with 137: killed"),
            "{e}"
        );
        let e = parse_dump(
            &out(
                &format!("opsdeck-dump 0 1 {sha} 10\n"),
                "tee: x: No space left on device",
            ),
            "pg_dump",
        )
        .expect_err("tee failed");
        assert!(e.to_string().contains("No space left"), "{e}");
        assert!(parse_dump(&out("", "mkdir: denied"), "pg_dump")
            .expect_err("no line")
            .to_string()
            .contains("mkdir: denied"));
    }
}
