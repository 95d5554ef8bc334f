//! A provider's billing rules as data: a table of [`RuleRow`]s, each one rule with its condition,
//! where its amount comes from, the steps that make the amount a range, the assumptions it
//! names and its words, read by one evaluator ([`rule_lines`]).
//!
//! A rule's condition and its steps test **facts**: yes/no questions about the SIM, the asset,
//! the change or the price book, each known (`Some`) or not (`None`), in the provider's own type
//! of fact. A step is a short decision table ([`Case`]s, the first that holds applies) that takes
//! all of the amount, none of it, or either ([`Share`]), and names the [`Question`] that makes it
//! a range. The provider answers the facts and looks up each row's amount (its `subject`); the
//! evaluator does the rest, the same way for every row.
//!
//! ```
//! use simcore::charge::{
//!     rule_lines, Case, ChargeRange, Is, Money, RowPrice, Question, RuleRow, Share, Step,
//! };
//!
//! #[derive(Clone, Copy, PartialEq)]
//! enum Fact { Activating, BilledOnActivation }
//!
//! const BILLED: Question = Question {
//!     id: "example.billed",
//!     text: "whether the month a {item} is activated in is billed is not documented",
//!     readings: &["it is billed", "it is not"],
//!     settle: Some("set {key}.activation_month_billed in your price book"),
//! };
//! const ACTIVATION: Step<Fact> = &[
//!     Case { when: &[(Fact::Activating, Is::No)], share: Share::Zero, names: None },
//!     Case { when: &[(Fact::BilledOnActivation, Is::No)], share: Share::Zero, names: None },
//!     Case { when: &[(Fact::BilledOnActivation, Is::Unknown)], share: Share::Either, names: Some(&BILLED) },
//! ];
//! const RULES: &[RuleRow<Fact, ()>] = &[RuleRow {
//!     id: "example.sim",
//!     item: "SIM",
//!     when: &[],
//!     subject: (),
//!     now: &[ACTIVATION],
//!     monthly: &[],
//!     words: &[],
//!     text: "{price} a month",
//! }];
//!
//! let price = Money::from_cents(150);
//! let (lines, _) = rule_lines(
//!     RULES,
//!     |_, fact| match fact { Fact::Activating => Some(true), Fact::BilledOnActivation => None },
//!     |_| Ok(RowPrice::new(ChargeRange::exact(price)).var("price", "$1.50")),
//!     &[("key", "sim".to_owned())],
//! )
//! .unwrap();
//! assert_eq!(lines[0].now, ChargeRange::up_to(price)); // either billed or not
//! assert_eq!(lines[0].monthly, ChargeRange::exact(price));
//! assert_eq!(lines[0].rule.text, "$1.50 a month");
//! assert_eq!(lines[0].assumptions[0].text, "whether the month a SIM is activated in is billed is not documented");
//! ```

use super::money::ChargeRange;
use super::{Assumption, ChargeLine, Input, Rule, Unpriced};

/// What a fact must be for a condition to hold: known to be true, known to be false, or not
/// known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Is {
    /// Known to be true.
    Yes,
    /// Known to be false.
    No,
    /// Not known.
    Unknown,
}

impl Is {
    /// Whether a fact (`None`: not known) is this.
    pub fn holds(self, fact: Option<bool>) -> bool {
        match self {
            Is::Yes => fact == Some(true),
            Is::No => fact == Some(false),
            Is::Unknown => fact.is_none(),
        }
    }
}

/// A condition: every fact as given. The empty condition always holds.
pub type When<F> = &'static [(F, Is)];

/// How much of the amount before it a [`Case`] leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Share {
    /// Nothing.
    Zero,
    /// All of it.
    Full,
    /// Nothing or all of it, as the case's question is answered: from nothing to its highest
    /// figure.
    Either,
}

impl Share {
    /// The share of `amount`.
    pub fn of(self, amount: ChargeRange) -> ChargeRange {
        match self {
            Share::Zero => ChargeRange::ZERO,
            Share::Full => amount,
            Share::Either => ChargeRange::up_to(amount.high),
        }
    }
}

/// A question the provider's documents leave open (or a reading the rule assumes), as data: it
/// becomes an [`Assumption`] with its words filled in ([`fill`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Question {
    /// A stable id, `provider.topic`.
    pub id: &'static str,
    /// What is not known, or what is assumed; may name variables as `{name}`.
    pub text: &'static str,
    /// The readings a range covers; empty when one reading is assumed.
    pub readings: &'static [&'static str],
    /// How to make the figure exact; may name variables as `{name}`.
    pub settle: Option<&'static str>,
}

impl Question {
    /// The assumption, with `vars` filled in.
    pub fn assumption(&self, vars: &[(&str, String)]) -> Assumption {
        let a =
            Assumption::new(self.id, fill(self.text, vars)).covering(self.readings.iter().copied());
        match self.settle {
            Some(how) => a.settled_by(fill(how, vars)),
            None => a,
        }
    }
}

/// One case of a [`Step`]: when it holds, the share of the amount it leaves, and the question
/// it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Case<F: 'static> {
    /// When the case holds.
    pub when: When<F>,
    /// What it leaves of the amount.
    pub share: Share,
    /// The assumption it names, if any.
    pub names: Option<&'static Question>,
}

/// A decision table over an amount: the first case that holds applies; when none holds, the
/// amount stands.
pub type Step<F> = &'static [Case<F>];

/// Words a rule's text takes from the facts: `{var}` is the words of the first case that holds,
/// or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Words<F: 'static> {
    /// The variable the words fill.
    pub var: &'static str,
    /// Conditions and their words.
    pub cases: &'static [(When<F>, &'static str)],
}

/// One billing rule: a row of a provider's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleRow<F: 'static, S: 'static> {
    /// The rule's stable id (`provider.topic`), the line's [`Rule::id`].
    pub id: &'static str,
    /// What the line is for; may name variables.
    pub item: &'static str,
    /// When the rule applies.
    pub when: When<F>,
    /// What the row prices, as the provider names it: its price lookup reads it, and its facts
    /// may depend on it.
    pub subject: S,
    /// The steps from the amount to what the change adds to this month's bill, in order.
    pub now: &'static [Step<F>],
    /// The steps from the amount to what it costs per month afterwards, in order.
    pub monthly: &'static [Step<F>],
    /// Words the text takes from the facts.
    pub words: &'static [Words<F>],
    /// The rule in words; may name variables.
    pub text: &'static str,
}

/// What a provider's price lookup answers for a row: the amount, the variables the row's words
/// use, and the assumptions and inputs behind the amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowPrice {
    /// The amount the steps start from.
    pub amount: ChargeRange,
    /// Variables for the row's words, its questions' and the item's.
    pub vars: Vec<(&'static str, String)>,
    /// What the amount rests on (a volume count not given, …).
    pub assumptions: Vec<Assumption>,
    /// Facts the amount used, to report with the charge.
    pub inputs: Vec<Input>,
}

impl RowPrice {
    /// An amount, with no variable, assumption or input yet.
    pub fn new(amount: ChargeRange) -> Self {
        Self {
            amount,
            vars: Vec::new(),
            assumptions: Vec::new(),
            inputs: Vec::new(),
        }
    }

    /// Adds a variable.
    pub fn var(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.vars.push((name, value.into()));
        self
    }
}

/// `template` with each `{name}` of `vars` replaced by its value (the first of that name); any
/// other braces are kept as they are. Values are not read again.
///
/// ```
/// let vars = [("fee", "$6.00".to_owned()), ("device", "an {ALPON}".to_owned())];
/// assert_eq!(simcore::charge::fill("{fee} for {device} {other}", &vars), "$6.00 for an {ALPON} {other}");
/// ```
pub fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            let value = vars.iter().find(|(n, _)| *n == name)?;
            Some((&value.1, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The lines of a table of rules: for each row whose condition holds, in the table's order, its
/// amount (`price`), its steps applied to it for `now` and `monthly`, its text and item with the
/// variables filled in, and the assumptions its amount rests on and its steps name (the amount's
/// first, then the `now` steps', then the `monthly` steps', each once). Also every input the
/// amounts used. A row the provider cannot price stops the table with its reason.
///
/// `fact` answers a fact for a row's subject; `vars` are the variables every row may use (a
/// row's own come first, then `item`, the row's item).
pub fn rule_lines<F: Copy, S>(
    rows: &[RuleRow<F, S>],
    fact: impl Fn(&S, F) -> Option<bool>,
    mut price: impl FnMut(&S) -> Result<RowPrice, Box<Unpriced>>,
    vars: &[(&'static str, String)],
) -> Result<(Vec<ChargeLine>, Vec<Input>), Box<Unpriced>> {
    let mut lines = Vec::new();
    let mut inputs = Vec::new();
    for row in rows {
        let holds = |when: When<F>| when.iter().all(|(f, is)| is.holds(fact(&row.subject, *f)));
        if !holds(row.when) {
            continue;
        }
        let priced = price(&row.subject)?;
        let mut vars: Vec<(&str, String)> = priced
            .vars
            .into_iter()
            .chain(vars.iter().cloned())
            .collect();
        let item = fill(row.item, &vars);
        vars.insert(0, ("item", item.clone()));
        for w in row.words {
            let words = w
                .cases
                .iter()
                .find(|(when, _)| holds(when))
                .map_or("", |(_, words)| words);
            vars.insert(0, (w.var, words.to_owned()));
        }
        let mut named = priced.assumptions;
        let mut apply = |steps: &[Step<F>]| {
            steps.iter().fold(priced.amount, |amount, step| {
                match step.iter().find(|case| holds(case.when)) {
                    Some(case) => {
                        named.extend(case.names.map(|q| q.assumption(&vars)));
                        case.share.of(amount)
                    }
                    None => amount,
                }
            })
        };
        let now = apply(row.now);
        let monthly = apply(row.monthly);
        let mut line =
            ChargeLine::new(item, Rule::new(row.id, fill(row.text, &vars)), now, monthly);
        for a in named {
            line = line.assuming(a);
        }
        lines.push(line);
        inputs.extend(priced.inputs);
    }
    Ok((lines, inputs))
}

#[cfg(test)]
mod tests {
    use super::super::{Money, UnpricedReason};
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Fact {
        On,
        Billed,
    }

    const Q: Question = Question {
        id: "t.billed",
        text: "{item} may be billed ({n})",
        readings: &["billed", "not billed"],
        settle: Some("set {n}"),
    };
    const CLOSED: Question = Question {
        id: "t.closed",
        text: "assumed",
        readings: &[],
        settle: None,
    };
    const BILLED: Step<Fact> = &[
        Case {
            when: &[(Fact::Billed, Is::No)],
            share: Share::Zero,
            names: Some(&CLOSED),
        },
        Case {
            when: &[(Fact::Billed, Is::Unknown)],
            share: Share::Either,
            names: Some(&Q),
        },
    ];
    const ROWS: &[RuleRow<Fact, u64>] = &[
        RuleRow {
            id: "t.on",
            item: "SIM {n}",
            when: &[(Fact::On, Is::Yes)],
            subject: 200,
            now: &[BILLED, BILLED],
            monthly: &[],
            words: &[Words {
                var: "billed",
                cases: &[(&[(Fact::Billed, Is::Yes)], "; billed")],
            }],
            text: "{price} a month{billed}",
        },
        RuleRow {
            id: "t.off",
            item: "SIM",
            when: &[(Fact::On, Is::No)],
            subject: 10,
            now: &[&[Case {
                when: &[],
                share: Share::Zero,
                names: None,
            }]],
            monthly: &[],
            words: &[],
            text: "off",
        },
    ];

    fn run(on: Option<bool>, billed: Option<bool>) -> Result<Vec<ChargeLine>, Box<Unpriced>> {
        let fact = |_: &u64, f| match f {
            Fact::On => on,
            Fact::Billed => billed,
        };
        let price = |cents: &u64| {
            if *cents == 0 {
                return Err(Box::new(Unpriced::new(
                    UnpricedReason::UnknownCurrentState { detail: "x".into() },
                )));
            }
            let m = Money::from_cents(*cents);
            Ok(RowPrice::new(ChargeRange::exact(m)).var("price", m.to_string()))
        };
        rule_lines(ROWS, fact, price, &[("n", "7".to_owned())]).map(|(l, _)| l)
    }

    #[test]
    fn rows_steps_words_and_questions() {
        let m = Money::from_cents;
        let l = run(Some(true), None).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(
            (l[0].now, l[0].monthly),
            (ChargeRange::up_to(m(200)), ChargeRange::exact(m(200)))
        );
        assert_eq!(l[0].item, "SIM 7");
        assert_eq!(l[0].rule.text, "2.00 a month");
        assert_eq!(l[0].assumptions.len(), 1, "named once");
        assert_eq!(
            l[0].assumptions[0].to_string(),
            "[t.billed] SIM 7 may be billed (7); the range covers: billed; or not billed; to make it exact: set 7"
        );
        let l = run(Some(true), Some(true)).unwrap();
        assert_eq!(
            (l[0].now, &*l[0].rule.text),
            (ChargeRange::exact(m(200)), "2.00 a month; billed")
        );
        assert!(l[0].assumptions.is_empty());
        let l = run(Some(true), Some(false)).unwrap();
        assert_eq!(l[0].now, ChargeRange::ZERO);
        assert!(!l[0].assumptions[0].is_open());
        let l = run(Some(false), None).unwrap();
        assert_eq!(
            (l[0].now, l[0].monthly),
            (ChargeRange::ZERO, ChargeRange::exact(m(10)))
        );
        assert!(run(None, None).unwrap().is_empty());
    }

    #[test]
    fn filling_and_shares() {
        let v = [
            ("a", "1".to_owned()),
            ("a", "2".to_owned()),
            ("b", "{a}".to_owned()),
        ];
        assert_eq!(fill("{a}{b}{c}{", &v), "1{a}{c}{");
        assert_eq!(fill("", &v), "");
        assert_eq!(fill("é{a}é}", &v), "é1é}");
        let r = ChargeRange::between(Money::from_cents(160), Money::from_cents(200));
        assert_eq!(
            Share::Either.of(r),
            ChargeRange::up_to(Money::from_cents(200))
        );
        assert_eq!(
            (Share::Full.of(r), Share::Zero.of(r)),
            (r, ChargeRange::ZERO)
        );
        assert!(Is::Unknown.holds(None) && !Is::Yes.holds(None) && Is::No.holds(Some(false)));
    }

    #[test]
    fn an_unpriced_row_stops_the_table() {
        let rows: &[RuleRow<Fact, u64>] = &[RuleRow {
            subject: 0,
            ..ROWS[1]
        }];
        let e = rule_lines(
            rows,
            |_, _| Some(false),
            |_| {
                Err(Box::new(Unpriced::new(
                    UnpricedReason::UnknownCurrentState { detail: "x".into() },
                )))
            },
            &[],
        );
        assert!(e.is_err());
    }
}
