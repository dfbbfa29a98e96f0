//! Email alerts over SMTP (lettre): STARTTLS required by default, TLS from the first byte,
//! or plain text for a relay on loopback. An internal CA in `SSL_CERT_FILE` is trusted, as
//! for the HTTP adapter.

use super::{Notice, NotifyError};
use crate::inventory::SmtpTls;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// An SMTP destination with its password already read.
#[derive(Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub from: String,
    pub to: Vec<String>,
    pub login: Option<(String, String)>,
    pub tls: SmtpTls,
}

fn err(e: impl std::fmt::Display) -> NotifyError {
    NotifyError::Email(crate::secrets::mask_text(&e.to_string()))
}

fn tls_parameters(host: &str) -> Result<TlsParameters, NotifyError> {
    let mut b = TlsParameters::builder(host.to_string());
    if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| {
            err(format!(
                "SSL_CERT_FILE {}: {e}",
                std::path::Path::new(&path).display()
            ))
        })?;
        b = b.add_root_certificate(Certificate::from_pem(&pem).map_err(err)?);
    }
    b.build().map_err(err)
}

pub(super) async fn send(s: &Smtp, n: &Notice, timeout: Duration) -> Result<(), NotifyError> {
    let mut m = Message::builder()
        .from(
            s.from
                .parse()
                .map_err(|e| err(format!("from {:?}: {e}", s.from)))?,
        )
        .subject(n.title.replace(['\r', '\n'], " "))
        .header(ContentType::TEXT_PLAIN);
    for to in &s.to {
        m = m.to(to.parse().map_err(|e| err(format!("to {to:?}: {e}")))?);
    }
    let message = m.body(n.text.clone()).map_err(err)?;
    let tls = match s.tls {
        SmtpTls::Starttls => Tls::Required(tls_parameters(&s.host)?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters(&s.host)?),
        SmtpTls::None => Tls::None,
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        .port(s.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some((u, p)) = &s.login {
        b = b.credentials(Credentials::new(u.clone(), p.clone()));
    }
    let mailer = b.build();
    match tokio::time::timeout(timeout, mailer.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(err(format!("{}:{}: {e}", s.host, s.port))),
        Err(_) => Err(NotifyError::Timeout {
            kind: "email",
            host: s.host.clone(),
            secs: timeout.as_secs(),
        }),
    }
}
