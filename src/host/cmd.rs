use std::time::Duration;

/// A command to run on a host: a program and its arguments, never a shell string.
#[derive(Debug, Clone, Default)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    pub timeout: Option<Duration>,
    /// Bytes fed to the command's standard input (then end of file); `None`: empty stdin.
    pub stdin: Option<Vec<u8>>,
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            ..Self::default()
        }
    }
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// The command as one POSIX shell line with every part quoted: what a remote transport
    /// sends. `cd DIR && env K=V program args...`
    pub fn shell_line(&self) -> String {
        self.line(false)
    }

    /// The line a remote transport sends: [`Cmd::shell_line`] with `exec`, so the program
    /// replaces the remote shell and a signal (timeout, cancellation) reaches it directly.
    pub fn remote_line(&self) -> String {
        self.line(true)
    }

    fn line(&self, exec: bool) -> String {
        let mut parts = Vec::new();
        if let Some(dir) = &self.cwd {
            parts.push(format!("cd {} &&", shell_quote(dir)));
        }
        if exec {
            parts.push("exec".to_string());
        }
        if !self.env.is_empty() {
            parts.push("env".to_string());
            for (k, v) in &self.env {
                parts.push(shell_quote(&format!("{k}={v}")));
            }
        }
        parts.push(shell_quote(&self.program));
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        parts.join(" ")
    }

    /// For messages: the program and its arguments, plainly.
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Quote a string for a POSIX shell: `'...'`, with `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The result of a command that ran to completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit status; -1 when the process was killed by a signal.
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_a_real_shell() {
        let hostile = [
            "plain",
            "",
            "a b",
            "it's",
            "$(touch /tmp/opsdeck-pwned)",
            "`id`",
            "a;b|c&d",
            "new\nline",
            "'\"\\",
        ];
        for h in hostile {
            let line = format!("printf %s {}", shell_quote(h));
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&line)
                .output()
                .expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), h, "{line}");
        }
    }

    #[test]
    fn shell_line_quotes_env_and_cwd() {
        let c = Cmd::new("echo")
            .arg("x y")
            .env("VERSION", "v 2")
            .cwd("/opt/my app");
        assert_eq!(
            c.shell_line(),
            "cd '/opt/my app' && env 'VERSION=v 2' echo 'x y'"
        );
        assert_eq!(
            c.remote_line(),
            "cd '/opt/my app' && exec env 'VERSION=v 2' echo 'x y'"
        );
        // A directory named like the separator does not confuse the split.
        let c = Cmd::new("true").cwd("/a && b");
        assert_eq!(c.remote_line(), "cd '/a && b' && exec true");
        assert_eq!(Cmd::new("ls").arg("-l").remote_line(), "exec ls -l");
    }
}
