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
