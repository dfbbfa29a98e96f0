//! Attached `exec` into a container: streamed stdout/stderr, optional stdin, exit status.

use super::{Engine, EngineError};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::{Stream, StreamExt};
use std::pin::Pin;
use tokio::io::AsyncWrite;

/// A piece of what the command printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

impl Frame {
    fn from_engine(o: LogOutput) -> Self {
        match o {
            LogOutput::StdErr { message } => Frame::Stderr(message.to_vec()),
            other => Frame::Stdout(other.into_bytes().to_vec()),
        }
    }
}

pub type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, EngineError>> + Send>>;
pub type Input = Pin<Box<dyn AsyncWrite + Send>>;

pub struct Session {
    pub id: String,
    pub output: Output,
    pub input: Input,
}

impl Session {
    /// The next piece of output (`None`: the command closed its output).
    pub async fn next_frame(&mut self) -> Option<Result<Frame, EngineError>> {
        let f = self.output.next().await?;
        Some(f.map(Frame::from_engine))
    }
}

/// Start `cmd` in `container` with stdout/stderr attached (and stdin when `stdin`).
pub async fn start(
    docker: &Engine,
    container: &str,
    cmd: Vec<String>,
    stdin: bool,
) -> Result<Session, EngineError> {
    start_with_env(docker, container, cmd, Vec::new(), stdin).await
}

/// [`start`] with `KEY=VALUE` environment for the command (a password the command reads
/// from its environment stays off every command line).
pub async fn start_with_env(
    docker: &Engine,
    container: &str,
    cmd: Vec<String>,
    env: Vec<String>,
    stdin: bool,
) -> Result<Session, EngineError> {
    let created = docker
        .create_exec(
            container,
            CreateExecOptions::<String> {
                cmd: Some(cmd),
                env: (!env.is_empty()).then_some(env),
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
        StartExecResults::Detached => Err(EngineError::DockerResponseServerError {
            status_code: 500,
            message: "exec started detached".into(),
        }),
    }
}

/// The exit status of a finished exec (`None` while it still runs).
pub async fn exit_code(docker: &Engine, id: &str) -> Result<Option<i64>, EngineError> {
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
    docker: &Engine,
    container: &str,
    cmd: Vec<String>,
    stdin: Option<&[u8]>,
) -> Result<Ran, EngineError> {
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
        match Frame::from_engine(frame?) {
            Frame::Stderr(message) => {
                if stderr.len() < 1 << 20 {
                    stderr.push_str(&String::from_utf8_lossy(&message));
                }
            }
            Frame::Stdout(message) => {
                if stdout.len() < 1 << 20 {
                    stdout.push_str(&String::from_utf8_lossy(&message));
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
    Err(EngineError::DockerResponseServerError {
        status_code: 500,
        message: "the command's output ended but it did not exit within 5s".into(),
    })
}
