//! Who may change what on a SIM, as pure functions over an [`UpdateSimRequest`].
//!
//! emnify's rules for `PATCH /api/v1/sim/{sim_id}`:
//!
//! | caller's organisation | may change |
//! |---|---|
//! | issuer | every field |
//! | reseller | `reseller_org`, `customer_org` |
//! | customer | `status` |
//!
//! | field | may be assigned |
//! |---|---|
//! | `issuer_org` | a direct child organisation of type Mobile Network Operator or Service Provider |
//! | `reseller_org` | a direct child organisation of type Mobile Network Operator, Service Provider or Reseller |
//! | `customer_org` | the caller's own organisation, or a direct child of type Enterprise |
//!
//! Clearing `reseller_org` or `customer_org` is not subject to the type rules. emnify enforces
//! all of this itself; these functions let a caller (or a local stand-in for emnify) know the
//! answer before asking.
//!
//! ```
//! use emnify_client::rules::{refused_fields, refused_org_assignments, KnownOrg, OrgRelation, OrgRole, SimField};
//! use emnify_client::{OrgChange, OrgType, SettableStatus, UpdateSimRequest};
//!
//! let mut update = UpdateSimRequest::new(250);
//! update.status = Some(SettableStatus::Activated);
//! update.customer_org = OrgChange::Set(42);
//! // A customer may change the status only.
//! assert_eq!(refused_fields(OrgRole::Customer, &update), vec![SimField::CustomerOrg]);
//! // Org 42 is a direct child of type Reseller: not a valid customer organisation.
//! let known = [KnownOrg::new(42, OrgType::Reseller, OrgRelation::DirectChild)];
//! let refusals = refused_org_assignments(&update, &known);
//! assert_eq!(refusals.len(), 1);
//! assert_eq!(refusals[0].field, SimField::CustomerOrg);
//! ```

use std::fmt;

use simcore::ValidationError;

use crate::models::OrgType;
use crate::requests::{OrgChange, UpdateSimRequest};

/// The role of the caller's organisation for a SIM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgRole {
    /// The caller's organisation issued the SIM.
    Issuer,
    /// The caller's organisation is the SIM's reseller.
    Reseller,
    /// The caller's organisation is the SIM's customer.
    Customer,
}

impl OrgRole {
    /// Every role.
    pub const ALL: [OrgRole; 3] = [OrgRole::Issuer, OrgRole::Reseller, OrgRole::Customer];

    /// Whether users of an organisation in this role may change `field`.
    pub fn may_change(self, field: SimField) -> bool {
        match self {
            OrgRole::Issuer => true,
            OrgRole::Reseller => matches!(field, SimField::ResellerOrg | SimField::CustomerOrg),
            OrgRole::Customer => field == SimField::Status,
        }
    }

    /// The role's name (`"issuer"`).
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Issuer => "issuer",
            OrgRole::Reseller => "reseller",
            OrgRole::Customer => "customer",
        }
    }
}

impl fmt::Display for OrgRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field of the SIM update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimField {
    /// `issuer_org`.
    IssuerOrg,
    /// `reseller_org`.
    ResellerOrg,
    /// `customer_org`.
    CustomerOrg,
    /// `status`.
    Status,
}

impl SimField {
    /// Every field.
    pub const ALL: [SimField; 4] = [
        SimField::IssuerOrg,
        SimField::ResellerOrg,
        SimField::CustomerOrg,
        SimField::Status,
    ];

    /// The JSON key (`"reseller_org"`).
    pub fn as_str(self) -> &'static str {
        match self {
            SimField::IssuerOrg => "issuer_org",
            SimField::ResellerOrg => "reseller_org",
            SimField::CustomerOrg => "customer_org",
            SimField::Status => "status",
        }
    }
}

impl fmt::Display for SimField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields an update changes (sets or clears), in [`SimField::ALL`] order.
pub fn changed_fields(update: &UpdateSimRequest) -> Vec<SimField> {
    SimField::ALL
        .into_iter()
        .filter(|f| match f {
            SimField::IssuerOrg => update.issuer_org.is_some(),
            SimField::ResellerOrg => !update.reseller_org.is_keep(),
            SimField::CustomerOrg => !update.customer_org.is_keep(),
            SimField::Status => update.status.is_some(),
        })
        .collect()
}

/// The fields of `update` that a caller in `role` may not change (empty: all allowed).
pub fn refused_fields(role: OrgRole, update: &UpdateSimRequest) -> Vec<SimField> {
    changed_fields(update)
        .into_iter()
        .filter(|f| !role.may_change(*f))
        .collect()
}

/// How an organisation relates to the caller's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgRelation {
    /// The caller's own organisation.
    Own,
    /// A direct child of the caller's organisation.
    DirectChild,
    /// Anything else (a grandchild, a sibling, a stranger).
    Other,
}

/// What the caller knows about an organisation an update assigns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct KnownOrg {
    /// The organisation's id.
    pub id: u64,
    /// Its type.
    pub org_type: OrgType,
    /// How it relates to the caller's organisation.
    pub relation: OrgRelation,
}

impl KnownOrg {
    /// An organisation with its type and relation to the caller.
    pub fn new(id: u64, org_type: OrgType, relation: OrgRelation) -> Self {
        Self {
            id,
            org_type,
            relation,
        }
    }
}

/// Whether an organisation of `org_type`, related to the caller as `relation`, may be assigned
/// to `field`. `status` takes no organisation: always `false`.
pub fn may_assign(field: SimField, org_type: &OrgType, relation: OrgRelation) -> bool {
    use OrgType::*;
    let child = relation == OrgRelation::DirectChild;
    match field {
        SimField::IssuerOrg => child && matches!(org_type, MobileNetworkOperator | ServiceProvider),
        SimField::ResellerOrg => {
            child && matches!(org_type, MobileNetworkOperator | ServiceProvider | Reseller)
        }
        SimField::CustomerOrg => relation == OrgRelation::Own || child && *org_type == Enterprise,
        SimField::Status => false,
    }
}

/// The rule for assigning an organisation to `field`, in words.
pub fn assignment_rule(field: SimField) -> &'static str {
    match field {
        SimField::IssuerOrg => {
            "must be a direct child organisation of type Mobile Network Operator or Service Provider"
        }
        SimField::ResellerOrg => {
            "must be a direct child organisation of type Mobile Network Operator, Service Provider or Reseller"
        }
        SimField::CustomerOrg => {
            "must be the own organisation or a direct child organisation of type Enterprise"
        }
        SimField::Status => "takes no organisation",
    }
}

/// An organisation assignment the type rules forbid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrgRefusal {
    /// The field the organisation was to be assigned to.
    pub field: SimField,
    /// The organisation.
    pub org: KnownOrg,
    /// The rule it breaks, in words.
    pub rule: &'static str,
}

impl fmt::Display for OrgRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: organisation {} ({}, {}) cannot be assigned: {}",
            self.field,
            self.org.id,
            self.org.org_type,
            relation_words(self.org.relation),
            self.rule
        )
    }
}

fn relation_words(r: OrgRelation) -> &'static str {
    match r {
        OrgRelation::Own => "own organisation",
        OrgRelation::DirectChild => "direct child",
        OrgRelation::Other => "not a direct child",
    }
}

impl From<OrgRefusal> for ValidationError {
    fn from(r: OrgRefusal) -> Self {
        ValidationError::new(
            r.field.as_str(),
            r.rule,
            format!(
                "organisation {} ({}, {})",
                r.org.id,
                r.org.org_type,
                relation_words(r.org.relation)
            ),
        )
    }
}

/// The organisation assignments in `update` that the type rules forbid, judged for the
/// organisations in `known`. An assigned organisation that is not in `known` is not judged;
/// clearing is never refused.
pub fn refused_org_assignments(update: &UpdateSimRequest, known: &[KnownOrg]) -> Vec<OrgRefusal> {
    let assigned = [
        (SimField::IssuerOrg, update.issuer_org),
        (SimField::ResellerOrg, set_id(update.reseller_org)),
        (SimField::CustomerOrg, set_id(update.customer_org)),
    ];
    assigned
        .into_iter()
        .filter_map(|(field, id)| {
            let org = known.iter().find(|k| Some(k.id) == id)?;
            (!may_assign(field, &org.org_type, org.relation)).then(|| OrgRefusal {
                field,
                org: org.clone(),
                rule: assignment_rule(field),
            })
        })
        .collect()
}

fn set_id(change: OrgChange) -> Option<u64> {
    match change {
        OrgChange::Set(id) => Some(id),
        OrgChange::Keep | OrgChange::Clear => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::SettableStatus;

    #[test]
    fn role_table() {
        use OrgRole::*;
        use SimField::*;
        let allowed = [
            (Issuer, IssuerOrg),
            (Issuer, ResellerOrg),
            (Issuer, CustomerOrg),
            (Issuer, Status),
            (Reseller, ResellerOrg),
            (Reseller, CustomerOrg),
            (Customer, Status),
        ];
        for role in OrgRole::ALL {
            for field in SimField::ALL {
                assert_eq!(
                    role.may_change(field),
                    allowed.contains(&(role, field)),
                    "{role} {field}"
                );
            }
        }
    }

    fn update_with_every_field() -> UpdateSimRequest {
        let mut u = UpdateSimRequest::new(250);
        u.issuer_org = Some(1);
        u.reseller_org = OrgChange::Clear;
        u.customer_org = OrgChange::Set(3);
        u.status = Some(SettableStatus::Suspended);
        u
    }

    #[test]
    fn refused_fields_per_role() {
        let all = update_with_every_field();
        assert_eq!(changed_fields(&all), SimField::ALL.to_vec());
        assert_eq!(refused_fields(OrgRole::Issuer, &all), vec![]);
        assert_eq!(
            refused_fields(OrgRole::Reseller, &all),
            vec![SimField::IssuerOrg, SimField::Status]
        );
        assert_eq!(
            refused_fields(OrgRole::Customer, &all),
            vec![
                SimField::IssuerOrg,
                SimField::ResellerOrg,
                SimField::CustomerOrg
            ]
        );
        // Clearing counts as a change; keeping does not.
        let mut clear = UpdateSimRequest::new(250);
        clear.customer_org = OrgChange::Clear;
        assert_eq!(
            refused_fields(OrgRole::Customer, &clear),
            vec![SimField::CustomerOrg]
        );
        assert_eq!(
            refused_fields(OrgRole::Customer, &UpdateSimRequest::new(250)),
            vec![]
        );
    }

    #[test]
    fn type_table() {
        use OrgRelation::*;
        use OrgType::*;
        let types = [
            MobileNetworkOperator,
            ServiceProvider,
            Reseller,
            Enterprise,
            OrgType::Unknown("Master".into()),
        ];
        let allowed = |field: SimField, t: &OrgType, r: OrgRelation| -> bool {
            match (field, r) {
                (SimField::IssuerOrg, DirectChild) => {
                    matches!(t, MobileNetworkOperator | ServiceProvider)
                }
                (SimField::ResellerOrg, DirectChild) => {
                    matches!(t, MobileNetworkOperator | ServiceProvider | Reseller)
                }
                (SimField::CustomerOrg, Own) => true,
                (SimField::CustomerOrg, DirectChild) => *t == Enterprise,
                _ => false,
            }
        };
        let mut count = 0;
        for field in SimField::ALL {
            for t in &types {
                for r in [Own, DirectChild, Other] {
                    assert_eq!(
                        may_assign(field, t, r),
                        allowed(field, t, r),
                        "{field} {t} {r:?}"
                    );
                    count += 1;
                }
            }
        }
        assert_eq!(count, 4 * 5 * 3);
        // The documented allowed cases, spelled out.
        assert!(may_assign(
            SimField::IssuerOrg,
            &MobileNetworkOperator,
            DirectChild
        ));
        assert!(may_assign(
            SimField::IssuerOrg,
            &ServiceProvider,
            DirectChild
        ));
        assert!(!may_assign(SimField::IssuerOrg, &Reseller, DirectChild));
        assert!(may_assign(SimField::ResellerOrg, &Reseller, DirectChild));
        assert!(!may_assign(SimField::ResellerOrg, &Enterprise, DirectChild));
        assert!(may_assign(SimField::CustomerOrg, &Enterprise, DirectChild));
        assert!(may_assign(SimField::CustomerOrg, &Reseller, Own));
        assert!(!may_assign(SimField::CustomerOrg, &Enterprise, Other));
    }

    #[test]
    fn refused_assignments_are_named() {
        let mut u = update_with_every_field();
        u.reseller_org = OrgChange::Set(2);
        let known = [
            KnownOrg::new(1, OrgType::Enterprise, OrgRelation::DirectChild),
            KnownOrg::new(2, OrgType::Reseller, OrgRelation::DirectChild),
            KnownOrg::new(3, OrgType::Enterprise, OrgRelation::Other),
        ];
        let refused = refused_org_assignments(&u, &known);
        let fields: Vec<_> = refused.iter().map(|r| r.field).collect();
        assert_eq!(fields, vec![SimField::IssuerOrg, SimField::CustomerOrg]);
        assert_eq!(
            refused[1].to_string(),
            "customer_org: organisation 3 (Enterprise, not a direct child) cannot be assigned: must be the own organisation or a direct child organisation of type Enterprise"
        );
        let v: ValidationError = refused[0].clone().into();
        assert_eq!(v.field(), "issuer_org");
        assert_eq!(v.found(), "organisation 1 (Enterprise, direct child)");
        // Unknown organisations are not judged; clearing is never refused.
        assert!(refused_org_assignments(&u, &[]).is_empty());
        let mut clear = UpdateSimRequest::new(250);
        clear.reseller_org = OrgChange::Clear;
        clear.customer_org = OrgChange::Clear;
        assert!(refused_org_assignments(&clear, &known).is_empty());
    }
}
