//! Attached `exec` into a container: streamed stdout/stderr, optional stdin, exit status.

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::Stream;
use std::pin::Pin;
use tokio::io::AsyncWrite;

pub type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
pub type Input = Pin<Box<dyn AsyncWrite + Send>>;

pub struct Session {
    pub id: String,
    pub output: Output,
    pub input: Input,
}

/// Start `cmd` in `container` with stdout/stderr attached (and stdin when `stdin`).
pub async fn start(
    docker: &bollard::Docker,
    container: &str,
    cmd: Vec<String>,
    stdin: bool,
) -> Result<Session, bollard::errors::Error> {
    let created = docker
        .create_exec(
            container,
            CreateExecOptions::<String> {
                cmd: Some(cmd),
                attach_stdin: Some(stdin),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await?;
    match docker.start_exec(&created.id, None).await? {
        StartExecResults::Attached { output, input } => Ok(Session {
            id: created.id,
            output,
            input,
        }),
        StartExecResults::Detached => Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 500,
            message: "exec started detached".into(),
        }),
    }
}

/// The exit status of a finished exec (`None` while it still runs).
pub async fn exit_code(
    docker: &bollard::Docker,
    id: &str,
) -> Result<Option<i64>, bollard::errors::Error> {
    let i = docker.inspect_exec(id).await?;
    Ok(if i.running == Some(true) {
        None
    } else {
        i.exit_code
    })
}

/// What a short exec printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Run a short command in `container` to the end (feeding `stdin` when given), collecting at
/// most 1 MiB of each output stream.
pub async fn run(
    docker: &bollard::Docker,
    container: &str,
    cmd: Vec<String>,
    stdin: Option<&[u8]>,
) -> Result<Ran, bollard::errors::Error> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let mut s = start(docker, container, cmd, stdin.is_some()).await?;
    if let Some(data) = stdin {
        // A command that exits without reading is not an error here: its status says it.
        let _ = s.input.write_all(data).await;
    }
    let _ = s.input.shutdown().await;
    drop(s.input);
    let (mut stdout, mut stderr) = (String::new(), String::new());
    while let Some(frame) = s.output.next().await {
        match frame? {
            LogOutput::StdErr { message } => {
                if stderr.len() < 1 << 20 {
                    stderr.push_str(&String::from_utf8_lossy(&message));
                }
            }
            other => {
                if stdout.len() < 1 << 20 {
                    stdout.push_str(&String::from_utf8_lossy(&other.into_bytes()));
                }
            }
        }
    }
    // The output ends a moment before the engine records the exit status.
    for _ in 0..50 {
        if let Some(code) = exit_code(docker, &s.id).await? {
            return Ok(Ran {
                code,
                stdout,
                stderr,
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(bollard::errors::Error::DockerResponseServerError {
        status_code: 500,
        message: "the command's output ended but it did not exit within 5s".into(),
    })
}
