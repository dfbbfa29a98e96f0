//! Container logs as lines: assembled from the engine's frames, timestamped, and capped so a
//! chatty container or one 90,000-character line can neither freeze nor exhaust a reader.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::{Stream, StreamExt};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// As the engine stamped it.
    pub ts: Option<chrono::DateTime<chrono::Utc>>,
    pub stream: LogStream,
    pub text: String,
    /// Bytes dropped from a line longer than the cap.
    #[serde(skip_serializing_if = "is_zero")]
    pub cut_bytes: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines of history (`None`: all of it).
    pub tail: Option<u64>,
    /// Unix seconds.
    pub since: Option<i64>,
    /// Longer lines are cut to this many bytes.
    pub max_line_bytes: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            follow: false,
            tail: Some(200),
            since: None,
            max_line_bytes: 8 * 1024,
        }
    }
}

/// Splits frames into lines per stream, capping what one line may hold.
#[derive(Debug)]
pub struct LineAssembler {
    max: usize,
    partial: [Vec<u8>; 2],
    cut: [usize; 2],
}

impl LineAssembler {
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            max: max_line_bytes.max(16),
            partial: [Vec::new(), Vec::new()],
            cut: [0, 0],
        }
    }

    /// Feed one frame; complete lines are pushed to `out`.
    pub fn push(&mut self, stream: LogStream, bytes: &[u8], out: &mut Vec<LogLine>) {
        let i = stream as usize;
        let mut rest = bytes;
        while !rest.is_empty() {
            let (chunk, ended) = match rest.iter().position(|b| *b == b'\n') {
                Some(p) => (&rest[..p], true),
                None => (rest, false),
            };
            let room = self.max.saturating_sub(self.partial[i].len());
            let take = chunk.len().min(room);
            self.partial[i].extend_from_slice(&chunk[..take]);
            self.cut[i] += chunk.len() - take;
            rest = if ended { &rest[chunk.len() + 1..] } else { &[] };
            if ended {
                out.push(self.finish(stream));
            }
        }
    }

    /// Whatever is left when the stream ends.
    pub fn flush(&mut self, out: &mut Vec<LogLine>) {
        for s in [LogStream::Stdout, LogStream::Stderr] {
            if !self.partial[s as usize].is_empty() || self.cut[s as usize] > 0 {
                out.push(self.finish(s));
            }
        }
    }

    fn finish(&mut self, stream: LogStream) -> LogLine {
        let i = stream as usize;
        let raw = std::mem::take(&mut self.partial[i]);
        let cut = std::mem::take(&mut self.cut[i]);
        let mut text = String::from_utf8_lossy(&raw).into_owned();
        if text.ends_with('\r') {
            text.pop();
        }
        // The engine prefixes `2026-11-23T10:00:00.123456789Z ` when asked for timestamps.
        let ts = match text.split_once(' ') {
            Some((t, _)) if t.len() >= 20 && t.as_bytes().get(4) == Some(&b'-') => {
                chrono::DateTime::parse_from_rfc3339(t)
                    .ok()
                    .map(|ts| (ts.with_timezone(&chrono::Utc), t.len() + 1))
            }
            _ => None,
        };
        // Drop the prefix in place (one allocation per line, not two).
        let ts = ts.map(|(ts, prefix)| {
            text.drain(..prefix);
            ts
        });
        LogLine {
            ts,
            stream,
            text,
            cut_bytes: cut,
        }
    }
}

/// A container's logs as a stream of batches of lines.
pub fn logs(
    docker: &bollard::Docker,
    container: &str,
    opts: &LogOptions,
) -> impl Stream<Item = Result<Vec<LogLine>, bollard::errors::Error>> + Send + 'static {
    let mut b = LogsOptionsBuilder::new()
        .follow(opts.follow)
        .stdout(true)
        .stderr(true)
        .timestamps(true);
    if let Some(t) = opts.tail {
        b = b.tail(&t.to_string());
    }
    if let Some(s) = opts.since {
        b = b.since(i32::try_from(s).unwrap_or(i32::MAX));
    }
    let mut asm = LineAssembler::new(opts.max_line_bytes);
    let inner = docker.logs(container, Some(b.build()));
    let mut done = false;
    // The engine sends a frame per line: take every frame that is already there as one batch
    // (one batch per wake-up, not one per line).
    inner
        .ready_chunks(1024)
        .map(Some)
        .chain(futures_util::stream::once(async { None }))
        .flat_map(move |item| {
            let mut out = Vec::new();
            let mut items: Vec<Result<Vec<LogLine>, bollard::errors::Error>> = Vec::new();
            match item {
                Some(frames) => {
                    for frame in frames {
                        match frame {
                            Ok(frame) => {
                                let (stream, bytes) = match frame {
                                    LogOutput::StdErr { message } => (LogStream::Stderr, message),
                                    LogOutput::StdOut { message }
                                    | LogOutput::Console { message }
                                    | LogOutput::StdIn { message } => (LogStream::Stdout, message),
                                };
                                asm.push(stream, &bytes, &mut out);
                            }
                            Err(e) => {
                                // The lines before the error first, then the error.
                                if !out.is_empty() {
                                    items.push(Ok(std::mem::take(&mut out)));
                                }
                                items.push(Err(e));
                            }
                        }
                    }
                }
                None if !done => {
                    done = true;
                    asm.flush(&mut out);
                }
                None => {}
            }
            if !out.is_empty() {
                items.push(Ok(out));
            }
            futures_util::stream::iter(items)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_capped_timestamped_lines() {
        let mut a = LineAssembler::new(32);
        let mut out = Vec::new();
        a.push(
            LogStream::Stdout,
            b"2026-11-23T10:00:00.5Z hello\n2026-11-23T10:00:01Z wor",
            &mut out,
        );
        a.push(LogStream::Stdout, b"ld\n", &mut out);
        a.push(LogStream::Stderr, &[b'x'; 90_000], &mut out);
        a.push(LogStream::Stderr, b"\nplain\n", &mut out);
        a.flush(&mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].text, "hello");
        assert!(out[0].ts.is_some());
        assert_eq!(out[1].text, "world");
        assert_eq!(out[2].text.len(), 32);
        assert_eq!(out[2].cut_bytes, 90_000 - 32);
        assert_eq!(out[2].stream, LogStream::Stderr);
        assert_eq!(out[3].text, "plain");
        assert!(out[3].ts.is_none());
    }
}
