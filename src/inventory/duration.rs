use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// A duration written the human way in the inventory: `"10s"`, `"2m"`, `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let parsed = humantime::parse_duration(s.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} ({e}); write it like \"10s\", \"2m\" or \"1h\""
            ))
        })?;
        if parsed.is_zero() {
            return Err(serde::de::Error::custom(format!(
                "duration {s:?} must be greater than zero"
            )));
        }
        Ok(ConfigDuration(parsed))
    }
}

impl serde::Serialize for ConfigDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}
