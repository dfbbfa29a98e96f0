//! Asking for an SSH key's passphrase on the terminal, before the console takes the screen:
//! no echo, Esc or Ctrl-C to skip (the host is then shown as down with the reason).

use crate::ops::PassphraseSource;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal;
use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::pin::Pin;

pub struct TerminalPrompt;

fn read_secret(host: &str, key: &Path) -> Option<String> {
    let mut err = std::io::stderr();
    let _ = write!(err, "Passphrase for {} (host {host}): ", key.display());
    let _ = err.flush();
    terminal::enable_raw_mode().ok()?;
    let mut s = String::new();
    let result = loop {
        match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => match k.code {
                KeyCode::Enter => break Some(std::mem::take(&mut s)),
                KeyCode::Esc => break None,
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => break None,
                KeyCode::Backspace => {
                    s.pop();
                }
                KeyCode::Char(c) => s.push(c),
                _ => {}
            },
            Ok(_) => {}
            Err(_) => break None,
        }
    };
    let _ = terminal::disable_raw_mode();
    let _ = writeln!(err);
    result
}

impl PassphraseSource for TerminalPrompt {
    fn passphrase<'a>(
        &'a self,
        host: &'a str,
        key_file: &'a Path,
    ) -> Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>> {
        let (host, key) = (host.to_string(), key_file.to_path_buf());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || read_secret(&host, &key))
                .await
                .ok()
                .flatten()
        })
    }
}
