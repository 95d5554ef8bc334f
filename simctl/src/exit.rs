//! Exit codes, and the one failure type every verb returns.

use std::fmt;

use serde_json::{Value, json};

/// What the process exits with. Scripts may rely on these numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Done.
    Ok = 0,
    /// A runtime error: the provider answered with an error (a 404 included), no answer, a
    /// network failure, a sandbox that could not start.
    Error = 1,
    /// A usage or configuration error: bad arguments (clap's own code), an unknown provider,
    /// missing credentials, an unreadable file. Nothing was sent.
    Usage = 2,
    /// The change was refused before sending: a value or a transition the provider's rules
    /// forbid (the typed validation or transition error). No change was sent.
    Refused = 3,
    /// A plan or its application did not cover every row as asked: rows refused, not found,
    /// unreadable, stale or failed.
    Partial = 4,
    /// A write to a real provider was not confirmed (declined, or no terminal to ask on and
    /// no `--yes`). Nothing was sent.
    NotConfirmed = 5,
}

/// The table printed in `--help` and the README.
pub const TABLE: &str = "\
Exit codes:
  0  done
  1  runtime error: the provider answered with an error (404 included), no answer, network
  2  usage or configuration error: bad arguments, unknown provider, missing credentials,
     unreadable file; nothing was sent
  3  refused before sending: a value or transition the provider's rules forbid; no change sent
  4  a plan or apply did not cover every row as asked (refused, not found, stale, failed rows)
  5  a write to a real provider was not confirmed (no --yes); nothing was sent";

/// Why a verb did not finish as asked.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The exit code.
    pub code: Code,
    /// A short word for scripts: `usage`, `refused`, `api`, `error`, `partial`, `not_confirmed`.
    pub kind: &'static str,
    /// What happened, for a person.
    pub message: String,
    /// The HTTP status, when the provider answered.
    pub status: Option<u16>,
    /// The field a refusal names.
    pub field: Option<String>,
}

impl Failure {
    fn new(code: Code, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            kind,
            message: message.into(),
            status: None,
            field: None,
        }
    }

    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, "usage", message)
    }

    /// A runtime error (exit 1).
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Code::Error, "error", message)
    }

    /// A write not confirmed (exit 5).
    pub fn not_confirmed(message: impl Into<String>) -> Self {
        Self::new(Code::NotConfirmed, "not_confirmed", message)
    }

    /// The failure as the JSON object `--output json` prints.
    pub fn to_json(&self) -> Value {
        json!({"error": {
            "kind": self.kind,
            "exit_code": self.code as i32,
            "message": self.message,
            "status": self.status,
            "field": self.field,
        }})
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<simcore::Error> for Failure {
    fn from(e: simcore::Error) -> Self {
        let message = e.to_string();
        match &e {
            simcore::Error::Invalid(v) => Failure {
                field: Some(v.field().to_owned()),
                ..Failure::new(Code::Refused, "refused", message)
            },
            simcore::Error::Transition(_) => Failure {
                field: Some("state".to_owned()),
                ..Failure::new(Code::Refused, "refused", message)
            },
            simcore::Error::Config(_) => Failure::usage(message),
            _ => Failure {
                status: e.status(),
                ..Failure::new(
                    Code::Error,
                    if e.status().is_some() { "api" } else { "error" },
                    message,
                )
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simcore::ValidationError;

    #[test]
    fn errors_sort_into_exit_codes_by_whether_anything_was_sent() {
        let refused = Failure::from(simcore::Error::from(ValidationError::new(
            "display_name",
            "must be 3 to 64 characters",
            "\"ab\"",
        )));
        assert_eq!((refused.code, refused.kind), (Code::Refused, "refused"));
        assert_eq!(refused.field.as_deref(), Some("display_name"));
        let config = Failure::from(simcore::Error::Config("no key".into()));
        assert_eq!(config.code, Code::Usage);
        let json = refused.to_json();
        assert_eq!(json["error"]["exit_code"], 3);
        assert_eq!(json["error"]["field"], "display_name");
    }
}
