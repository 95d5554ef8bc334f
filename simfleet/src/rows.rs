//! Desired-state rows: the provider ids a row may name, and the CSV reader. One rule for the
//! library and for `simctl plan`, which reads its files with [`read_csv`].
//!
//! # Provider ids
//! A row names its provider by an id that is read without regard to case, spaces, `-`, `_` or
//! `.` ([`ProviderId::parse`]):
//!
//! | id | aliases | stands for |
//! |---|---|---|
//! | `supersim` | `super-sim`, `Super SIM`, `super_sim`; the dialect names `twilio`, `twilio-supersim`, `kore`, `kore-wireless`, `kore-supersim` | Super SIM, whichever API (Twilio's or KORE's) serves it |
//! | `emnify` | | emnify |
//! | `sixfab` | | Sixfab |
//! | `edgeiq` | `edge-iq` | EdgeIQ |
//!
//! A [`Planner`](crate::plan::Planner) matches a row to the configured provider its id stands
//! for; a name that is no provider's is kept as written, and the plan refuses its row naming the
//! providers it knows.
//!
//! # The CSV
//! A header line, then one row per line. Header names are read without regard to case or
//! surrounding spaces:
//!
//! | column | | |
//! |---|---|---|
//! | `provider` | required | a provider id (above) |
//! | `id` | required | the provider's id of the SIM (or asset) |
//! | `target` | optional; `state` and `status` are aliases (one of the three at most) | `active`, `inactive`, `ready`, `retired`…; empty leaves the state alone |
//! | `name` | optional | the name the SIM should have; empty leaves the name alone |
//!
//! The whole file is refused (an [`Error::Invalid`] for `csv`, nothing planned) when it has no
//! header line, lacks `provider` or `id`, names a column twice (`target` and `status`, say), or
//! names a column this reader does not know: the error names each such column, so a misspelt
//! one is never silently ignored.
//!
//! A line that cannot be read as a row (fields missing or extra, text that is not UTF-8, no
//! provider or no id, a name the name rule refuses) does not stop the others: it becomes a row
//! that carries its refusal, with its line number ([`Desired::refusal`]), and the plan refuses
//! that row and plans the rest.

#[cfg(feature = "csv")]
use simcore::error::Error;
#[cfg(feature = "csv")]
use simcore::state::SimState;
#[cfg(feature = "csv")]
use simcore::validate::{SimName, ValidationError};

#[cfg(feature = "csv")]
use crate::plan::Desired;

pub use simcore::ProviderId;

/// A provider name as a row carries it: the id's own spelling when it is one
/// ([`ProviderId::as_str`]), otherwise the name as written, trimmed.
pub fn normalise_provider(name: &str) -> String {
    match ProviderId::parse(name) {
        Some(id) => id.as_str().to_owned(),
        None => name.trim().to_owned(),
    }
}

/// What a header cell names.
#[cfg(feature = "csv")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Provider,
    Id,
    Target,
    Name,
}

#[cfg(feature = "csv")]
impl Column {
    fn parse(header: &str) -> Option<Column> {
        Some(match header.trim().to_ascii_lowercase().as_str() {
            "provider" => Column::Provider,
            "id" => Column::Id,
            "target" | "state" | "status" => Column::Target,
            "name" => Column::Name,
            _ => return None,
        })
    }
}

/// The columns this reader knows, for its errors.
#[cfg(feature = "csv")]
const KNOWN: &str = "provider, id, target (or state, or status) and name";

#[cfg(feature = "csv")]
fn header_error(rule: impl Into<String>, found: impl Into<String>) -> Error {
    ValidationError::new("csv header", rule.into(), found.into()).into()
}

/// Reads desired-state rows from CSV by the rules in the [module docs](self): one [`Desired`]
/// per line after the header, in order, each with its line number; a line that cannot be read
/// is a row that carries its refusal ([`Desired::refusal`]). The whole file is refused only for
/// its header (or when it cannot be read at all).
///
/// ```
/// use simfleet::rows::read_csv;
/// let text = "Provider,ID,Status\nTwilio,pump-1,active\nemnify,1001\nSuper-SIM,pump-2,inactive\n";
/// let rows = read_csv(text.as_bytes())?;
/// assert_eq!(rows.len(), 3);
/// assert_eq!(rows[0].provider, "supersim"); // a dialect name stands for Super SIM
/// assert_eq!(rows[1].refusal.as_deref(), Some("line 3: it has 2 fields, the header has 3"));
/// assert_eq!(rows[2].provider, "supersim");
/// # Ok::<(), simcore::Error>(())
/// ```
#[cfg(feature = "csv")]
#[cfg_attr(docsrs, doc(cfg(feature = "csv")))]
pub fn read_csv(reader: impl std::io::Read) -> simcore::Result<Vec<Desired>> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(reader);
    let mut records = csv.byte_records();
    let header = match records.next() {
        None => {
            return Err(header_error(
                "the CSV must start with a header line",
                "an empty file",
            ));
        }
        Some(Err(e)) => {
            return Err(header_error(
                "the header line cannot be read",
                e.to_string(),
            ));
        }
        Some(Ok(h)) => h,
    };
    let mut columns: Vec<Column> = Vec::with_capacity(header.len());
    let mut unknown = Vec::new();
    let mut twice = Vec::new();
    for cell in header.iter() {
        let text = String::from_utf8_lossy(cell).trim().to_owned();
        match Column::parse(&text) {
            Some(c) if columns.contains(&c) => twice.push(text),
            Some(c) => columns.push(c),
            None => unknown.push(text),
        }
    }
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().map(|n| format!("{n:?}")).collect();
        return Err(header_error(
            format!(
                "unknown column {}: this reader reads {KNOWN}",
                names.join(", ")
            ),
            names.join(", "),
        ));
    }
    if !twice.is_empty() {
        let names: Vec<String> = twice.iter().map(|n| format!("{n:?}")).collect();
        return Err(header_error(
            format!(
                "a column given twice ({}: target, state and status are one column)",
                names.join(", ")
            ),
            names.join(", "),
        ));
    }
    // The column of each header position, in order (the checks above passed: every cell names
    // a column, once).
    let order = columns;
    let position = |c: Column| order.iter().position(|&o| o == c);
    let (Some(p), Some(i)) = (position(Column::Provider), position(Column::Id)) else {
        let missing: Vec<&str> = [(Column::Provider, "provider"), (Column::Id, "id")]
            .into_iter()
            .filter(|(c, _)| position(*c).is_none())
            .map(|(_, n)| n)
            .collect();
        return Err(header_error(
            format!("the header must name the columns provider and id ({KNOWN})"),
            format!("no {}", missing.join(" and no ")),
        ));
    };
    let (t, n) = (position(Column::Target), position(Column::Name));
    let width = order.len();
    let mut rows = Vec::new();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |pos| pos.line());
                rows.push(Desired::refused_line(
                    "",
                    "",
                    line,
                    format!("it cannot be read: {e}"),
                ));
                continue;
            }
        };
        let line = record.position().map_or(0, |pos| pos.line());
        let cell = |c: Option<usize>| -> Result<String, String> {
            match c.and_then(|c| record.get(c)) {
                None => Ok(String::new()),
                Some(bytes) => std::str::from_utf8(bytes)
                    .map(|s| s.trim().to_owned())
                    .map_err(|_| "it is not UTF-8 text".to_owned()),
            }
        };
        let provider = cell(Some(p)).unwrap_or_default();
        let id = cell(Some(i)).unwrap_or_default();
        let mut row = Desired::new(normalise_provider(&provider), id.clone());
        row.line = Some(line);
        let problem = (|| -> Result<(), String> {
            if record.len() != width {
                return Err(format!(
                    "it has {} field{}, the header has {width}",
                    record.len(),
                    if record.len() == 1 { "" } else { "s" }
                ));
            }
            let provider = cell(Some(p))?;
            let id = cell(Some(i))?;
            if provider.is_empty() {
                return Err("it names no provider".to_owned());
            }
            if id.is_empty() {
                return Err("it names no SIM (the id is empty)".to_owned());
            }
            let target = cell(t)?;
            if !target.is_empty() {
                row.state = Some(SimState::from_word(&target));
            }
            let name = cell(n)?;
            if !name.is_empty() {
                row.name = Some(SimName::parse(&name).map_err(|e| e.to_string())?);
            }
            Ok(())
        })();
        if let Err(why) = problem {
            row.state = None;
            row.name = None;
            row.refusal = Some(format!("line {line}: {why}"));
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(all(test, feature = "csv"))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn provider_ids_read_in_any_case_with_their_aliases() {
        for (name, id) in [
            ("twilio", ProviderId::SuperSim),
            ("TWILIO", ProviderId::SuperSim),
            ("Twilio-SuperSIM", ProviderId::SuperSim),
            ("kore", ProviderId::SuperSim),
            ("KORE Wireless", ProviderId::SuperSim),
            ("supersim", ProviderId::SuperSim),
            ("Super-SIM", ProviderId::SuperSim),
            ("super_sim", ProviderId::SuperSim),
            ("Super SIM", ProviderId::SuperSim),
            ("eMnify", ProviderId::Emnify),
            ("SixFab", ProviderId::Sixfab),
            ("Edge-IQ", ProviderId::EdgeIq),
        ] {
            assert_eq!(ProviderId::parse(name), Some(id), "{name}");
        }
        assert_eq!(ProviderId::parse("acme"), None);
        // One stable id, whatever the dialect.
        assert!(ProviderId::SuperSim.stands_for("supersim"));
        assert!(!ProviderId::SuperSim.stands_for("twilio"));
        assert!(!ProviderId::Emnify.stands_for("supersim"));
    }

    /// Item 8, as reported: a `status` column was ignored, so every row asked nothing.
    #[test]
    fn regression_a_status_column_is_the_target_and_an_unknown_column_is_named() {
        let rows = read_csv("provider,id,status\nemnify,1001,active\n".as_bytes()).unwrap();
        assert_eq!(rows[0].state, Some(SimState::Active));
        let err =
            read_csv("provider,id,target,colour\nemnify,1001,active,red\n".as_bytes()).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        assert!(err.to_string().contains("\"colour\""), "{err}");
        let err =
            read_csv("provider,id,target,status\nemnify,1,active,active\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("\"status\""), "{err}");
        let err = read_csv("iccid,target\n1,active\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("\"iccid\""), "{err}");
        let err = read_csv("target,name\nactive,x\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no provider and no id"), "{err}");
        assert!(read_csv("".as_bytes()).is_err());
    }

    /// One generated line of a CSV: a row that reads, or one broken in one of the ways a file
    /// breaks.
    #[derive(Debug, Clone)]
    enum Line {
        Good {
            provider: String,
            id: String,
            target: Option<&'static str>,
            name: Option<String>,
        },
        MissingField,
        ExtraField,
        NoProvider,
        NoId,
        BadName,
    }

    fn spelling() -> impl Strategy<Value = (String, &'static str)> {
        (
            prop::sample::select(vec![
                ("twilio", "supersim"),
                ("Twilio", "supersim"),
                ("KORE", "supersim"),
                ("kore-supersim", "supersim"),
                ("Super-SIM", "supersim"),
                ("supersim", "supersim"),
                ("EMNIFY", "emnify"),
                ("Sixfab", "sixfab"),
                ("edge-iq", "edgeiq"),
                ("acme", "acme"),
            ]),
            any::<bool>(),
        )
            .prop_map(|((s, id), upper)| {
                let s = if upper {
                    s.to_uppercase()
                } else {
                    s.to_owned()
                };
                (s, id)
            })
    }

    fn line() -> impl Strategy<Value = (Line, &'static str)> {
        prop_oneof![
            4 => (
                spelling(),
                "[a-z0-9]{1,12}",
                prop::option::of(prop::sample::select(vec!["active", "inactive", "Ready", "RETIRED"])),
                prop::option::of("[a-z][a-z0-9 ]{2,10}[a-z0-9]"),
            )
                .prop_map(|((provider, norm), id, target, name)| {
                    (Line::Good { provider, id, target, name }, norm)
                }),
            1 => Just((Line::MissingField, "")),
            1 => Just((Line::ExtraField, "")),
            1 => Just((Line::NoProvider, "")),
            1 => Just((Line::NoId, "")),
            1 => Just((Line::BadName, "")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Item 8: whatever the header's spelling and order and whatever the lines, every line
        /// after the header is one row, in order, with its line number; a line that cannot be
        /// read is a row carrying its refusal with that number, and never stops the others;
        /// provider ids are read in any case and with their aliases.
        #[test]
        fn every_line_is_a_row_and_a_broken_line_is_refused_with_its_number(
            lines in prop::collection::vec(line(), 0..30),
            target_header in prop::sample::select(vec!["target", "TARGET", "state", "Status"]),
            upper in any::<bool>(),
            order in prop::sample::select(vec![[0usize, 1, 2, 3], [1, 0, 3, 2], [3, 2, 1, 0]]),
        ) {
            let names = ["provider", "id", target_header, "name"];
            let header: Vec<String> = order
                .iter()
                .map(|&c| if upper { names[c].to_uppercase() } else { names[c].to_owned() })
                .collect();
            let mut text = header.join(",") + "\n";
            for (l, _) in &lines {
                let cells: [String; 4] = match l {
                    Line::Good { provider, id, target, name } => [
                        provider.clone(),
                        id.clone(),
                        target.unwrap_or("").to_owned(),
                        name.clone().unwrap_or_default(),
                    ],
                    Line::NoProvider => [String::new(), "x1".into(), "active".into(), String::new()],
                    Line::NoId => ["emnify".into(), String::new(), "active".into(), String::new()],
                    Line::BadName => ["emnify".into(), "1".into(), "active".into(), "bad\u{1}name".into()],
                    Line::MissingField | Line::ExtraField => Default::default(),
                };
                let row: Vec<String> = order.iter().map(|&c| cells[c].clone()).collect();
                match l {
                    Line::MissingField => text.push_str("emnify,1001\n"),
                    Line::ExtraField => text.push_str("emnify,1001,active,a,b\n"),
                    _ => {
                        text.push_str(&row.join(","));
                        text.push('\n');
                    }
                }
            }
            let rows = read_csv(text.as_bytes()).unwrap();
            prop_assert_eq!(rows.len(), lines.len());
            for (k, ((l, norm), row)) in lines.iter().zip(&rows).enumerate() {
                let number = k as u64 + 2;
                prop_assert_eq!(row.line, Some(number));
                match l {
                    Line::Good { provider, id, target, name } => {
                        prop_assert_eq!(&row.refusal, &None, "{}", text);
                        // An id is read in its own spelling; a name that is no provider's is
                        // kept as written (the plan refuses it, naming the known ones).
                        let expected = if *norm == "acme" { provider.as_str() } else { *norm };
                        prop_assert_eq!(row.provider.as_str(), expected);
                        prop_assert_eq!(&row.id, id);
                        prop_assert_eq!(row.state.clone(), target.map(SimState::from_word));
                        prop_assert_eq!(row.name.as_ref().map(|n| n.as_str().to_owned()), name.clone());
                    }
                    _ => {
                        let why = row.refusal.as_deref().unwrap_or("");
                        prop_assert!(why.starts_with(&format!("line {number}: ")), "{:?}: {}", l, why);
                        prop_assert_eq!(&row.state, &None);
                    }
                }
            }
        }
    }
}
