//! What emnify's API returns.

use std::fmt;

/// A SIM's status, identified by emnify's numeric id (compare by id: descriptions changed
/// over time, older docs say "Active" for 1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SimStatus {
    /// 0: issued, never activated.
    Issued,
    /// 1: activated; emnify charges for it.
    Activated,
    /// 2: suspended.
    Suspended,
    /// 3: deleted (reached with `DELETE`, never with a status update).
    Deleted,
    /// 4: factory test; becomes activated by itself after 100 KB or 10 SMS.
    FactoryTest,
    /// An id this SDK does not know.
    Unknown(i64),
}

impl SimStatus {
    /// Every known status, by id.
    pub const KNOWN: &'static [SimStatus] = &[
        SimStatus::Issued,
        SimStatus::Activated,
        SimStatus::Suspended,
        SimStatus::Deleted,
        SimStatus::FactoryTest,
    ];

    /// emnify's numeric id.
    pub fn id(&self) -> i64 {
        match self {
            SimStatus::Issued => 0,
            SimStatus::Activated => 1,
            SimStatus::Suspended => 2,
            SimStatus::Deleted => 3,
            SimStatus::FactoryTest => 4,
            SimStatus::Unknown(id) => *id,
        }
    }

    /// The status for an id.
    pub fn from_id(id: i64) -> Self {
        match id {
            0 => SimStatus::Issued,
            1 => SimStatus::Activated,
            2 => SimStatus::Suspended,
            3 => SimStatus::Deleted,
            4 => SimStatus::FactoryTest,
            other => SimStatus::Unknown(other),
        }
    }

    /// emnify's description of the status.
    pub fn description(&self) -> String {
        match self {
            SimStatus::Issued => "Issued".into(),
            SimStatus::Activated => "Activated".into(),
            SimStatus::Suspended => "Suspended".into(),
            SimStatus::Deleted => "Deleted".into(),
            SimStatus::FactoryTest => "Factory Test".into(),
            SimStatus::Unknown(id) => format!("status {id}"),
        }
    }
}

impl fmt::Display for SimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}
