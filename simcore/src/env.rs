//! Reading credentials from the environment, the same way in every provider crate.
//!
//! ```
//! use simcore::env::require;
//!
//! let lookup = |name: &str| (name == "SET").then(|| "value".to_owned());
//! assert_eq!(require(&lookup, "SET", "").unwrap(), "value");
//! let err = require(&lookup, "MISSING", " (an API key)").unwrap_err();
//! assert_eq!(err.to_string(), "configuration error: environment variable MISSING is not set (an API key)");
//! ```

use crate::error::{Error, Result};

/// Looks a variable up in the process environment (`None` when unset or not UTF-8).
pub fn process(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The value of an optional variable, such as a base URL: `None` when it is unset or blank.
///
/// ```
/// let lookup = |name: &str| (name == "SET").then(|| " http://127.0.0.1:9 ".to_owned());
/// assert_eq!(simcore::env::optional(&lookup, "SET").as_deref(), Some("http://127.0.0.1:9"));
/// assert_eq!(simcore::env::optional(&lookup, "UNSET"), None);
/// ```
pub fn optional(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The value of `name` as `lookup` finds it; an unset or blank variable is an [`Error::Config`]
/// naming it (never quoting a value), with `hint` appended to say what it should hold.
///
/// Taking the lookup as a function lets tests supply variables without touching the process
/// environment.
pub fn require(lookup: &dyn Fn(&str) -> Option<String>, name: &str, hint: &str) -> Result<String> {
    match lookup(name) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err(Error::Config(format!(
            "environment variable {name} is empty{hint}"
        ))),
        None => Err(Error::Config(format!(
            "environment variable {name} is not set{hint}"
        ))),
    }
}
