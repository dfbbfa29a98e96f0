//! The inventory: hosts, apps, databases, storage and checks, read from `opsdeck.toml`.
//!
//! [`load`] finds the file (`--config`, `$OPSDECK_CONFIG`, `./opsdeck.toml`, the XDG config
//! dir), parses it strictly (unknown keys are errors) and validates it; every error names the
//! file, the line and the key. With no file at all the inventory is one host, `local`: the
//! local Docker engine.

mod duration;
mod load;
mod refs;
mod types;
mod validate;
mod volumes;
mod watch;

pub use duration::ConfigDuration;
pub use load::{load, load_file, load_str, ConfigError, ConfigSource};
pub use types::*;
pub use volumes::{VolumeSource, VolumeSpec};
pub use watch::{parse_schedule, AlertKind, AlertSpec, SmtpTls, WatchSpec};
