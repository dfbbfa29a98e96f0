//! One running remote command in an exec channel: stdin fed, output pumped into events,
//! stopped on cancel, timeout or a dropped receiver.

use crate::host::stream::ExecEvent;
use crate::host::HostError;
use russh::{ChannelMsg, Sig};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One running remote command: pumps the channel into events until it ends.
pub(super) struct ChannelJob {
    pub(super) host: String,
    pub(super) program: String,
    pub(super) stdin: Option<Vec<u8>>,
    pub(super) timeout: Duration,
    pub(super) cancel: CancellationToken,
}

impl ChannelJob {
    pub(super) async fn run(
        self,
        channel: russh::Channel<russh::client::Msg>,
        tx: mpsc::Sender<ExecEvent>,
    ) {
        let (mut rd, wr) = channel.split();
        let stdin = self.stdin;
        let wr_ref = &wr;
        let feed = async move {
            if let Some(data) = stdin {
                wr_ref.data(&data[..]).await?;
            }
            wr_ref.eof().await
        };
        tokio::pin!(feed);
        let mut fed = false;
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        let mut status: Option<i32> = None;
        let stop = |why: ExecEvent| async {
            // Ask the process to stop (sshd forwards the signal), then close the channel.
            let _ = wr.signal(Sig::TERM).await;
            let _ = wr.close().await;
            let _ = tx.send(why).await;
        };
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => {
                    return stop(ExecEvent::Failed(HostError::Cancelled {
                        host: self.host.clone(),
                        program: self.program.clone(),
                    }))
                    .await;
                }
                _ = &mut deadline => {
                    return stop(ExecEvent::Failed(HostError::Timeout {
                        host: self.host.clone(),
                        program: self.program.clone(),
                        after: self.timeout,
                    }))
                    .await;
                }
                _ = tx.closed() => {
                    let _ = wr.signal(Sig::TERM).await;
                    let _ = wr.close().await;
                    return;
                }
                // A command may exit without reading its input: not an error.
                _ = &mut feed, if !fed => fed = true,
                msg = rd.wait() => match msg {
                    Some(ChannelMsg::Data { data }) => {
                        if tx.send(ExecEvent::Stdout(data.to_vec())).await.is_err() {
                            let _ = wr.close().await;
                            return;
                        }
                    }
                    Some(ChannelMsg::ExtendedData { data, .. }) => {
                        if tx.send(ExecEvent::Stderr(data.to_vec())).await.is_err() {
                            let _ = wr.close().await;
                            return;
                        }
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        status = Some(i32::try_from(exit_status).unwrap_or(-1));
                    }
                    Some(ChannelMsg::ExitSignal { .. }) => status = Some(-1),
                    Some(ChannelMsg::Failure) => {
                        let _ = tx
                            .send(ExecEvent::Failed(HostError::Ssh {
                                host: self.host.clone(),
                                reason: format!("the server refused to run `{}`", self.program),
                            }))
                            .await;
                        return;
                    }
                    Some(ChannelMsg::Close) | None => break,
                    Some(_) => {}
                },
            }
        }
        let end = match status {
            Some(s) => ExecEvent::Exit(s),
            None => ExecEvent::Failed(HostError::Ssh {
                host: self.host.clone(),
                reason: format!(
                    "`{}`: the connection closed before the command finished",
                    self.program
                ),
            }),
        };
        let _ = tx.send(end).await;
    }
}
