use super::*;
use proptest::prelude::*;
use serde_json::json;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn today() -> NaiveDate {
    day(2025, 3, 14)
}

fn r(low: u64, high: u64) -> ChargeRange {
    ChargeRange::between(usd(low), usd(high))
}

fn super_sim(charged: Option<bool>) -> Option<SuperSim> {
    Some(SuperSim {
        charged_this_month: charged,
    })
}

fn pro(profile: Option<&str>, price: Option<u64>, history: ProSimHistory) -> Option<ProSim> {
    Some(ProSim {
        profile: profile.map(str::to_owned),
        reported_price: price.map(usd),
        history,
        charged_this_month: Some(false),
    })
}

fn alpon() -> DeviceKind {
    DeviceKind::Alpon { reported_fee: None }
}

fn inputs(f: impl FnOnce(&mut ChargeInputs)) -> ChargeInputs {
    let mut i = ChargeInputs::new(today());
    f(&mut i);
    i
}

fn alpon_inputs() -> ChargeInputs {
    inputs(|i| {
        i.super_sim = super_sim(Some(false));
        i.pro_sim = pro(None, None, ProSimHistory::ActivatedBefore);
        i.device = alpon();
        i.asset_fee_charged_this_month = Some(false);
    })
}

/// A price book of yours: the count, and how the ALPON fee and the PRO SIM's month are billed.
fn book(count: Option<u32>, replaces: Option<bool>, recurs: Option<bool>) -> PriceBook {
    let mut b = PriceBook {
        active_sims: count,
        ..PriceBook::default()
    };
    b.assets.insert(
        ALPON.into(),
        AssetPrices {
            replaces_sim_fees: replaces,
            recurs_monthly: recurs,
            ..AssetPrices::default()
        },
    );
    b.sims.insert(
        PRO_SIM.into(),
        SimPrices {
            activation_month_billed: Some(true),
            ..SimPrices::default()
        },
    );
    b
}

fn none() -> PriceBook {
    PriceBook::default()
}

fn count(n: u32) -> PriceBook {
    PriceBook {
        active_sims: Some(n),
        ..PriceBook::default()
    }
}

enum Expect {
    /// now, monthly, each line (item prefix, now, monthly), every assumption id.
    Priced(
        ChargeRange,
        ChargeRange,
        Vec<(&'static str, ChargeRange, ChargeRange)>,
        Vec<&'static str>,
    ),
    /// The reason's label, and words its text contains.
    Unpriced(&'static str, &'static str),
}

struct Case {
    name: &'static str,
    inputs: ChargeInputs,
    current: Option<AssetStatus>,
    target: Option<SettableStatus>,
    book: PriceBook,
    expect: Expect,
}

use AssetStatus::{Active as IsActive, Inactive as IsInactive};
use Expect::{Priced, Unpriced as NoFigure};
use SettableStatus::{Active, Inactive};

fn cases() -> Vec<Case> {
    let lone_super = || inputs(|i| i.super_sim = super_sim(Some(false)));
    let lone_pro = |profile, price, history| inputs(|i| i.pro_sim = pro(profile, price, history));
    vec![
        // --- Super SIM: $2, $1.60 above 10 active SIMs, on activation unless charged this month.
        Case {
            name: "Super SIM, count not given: both tiers",
            inputs: lone_super(),
            current: Some(IsInactive),
            target: Some(Active),
            book: none(),
            expect: Priced(
                r(160, 200),
                r(160, 200),
                vec![("Super SIM", r(160, 200), r(160, 200))],
                vec!["book.volume-count"],
            ),
        },
        Case {
            name: "Super SIM, 3 active SIMs: $2",
            inputs: lone_super(),
            current: Some(IsInactive),
            target: Some(Active),
            book: count(3),
            expect: Priced(r(200, 200), r(200, 200), vec![], vec![]),
        },
        Case {
            name: "Super SIM, 12 active SIMs: $1.60",
            inputs: lone_super(),
            current: Some(IsInactive),
            target: Some(Active),
            book: count(12),
            expect: Priced(r(160, 160), r(160, 160), vec![], vec![]),
        },
        Case {
            name: "Super SIM, 10 active SIMs and this one: across the tier",
            inputs: lone_super(),
            current: Some(IsInactive),
            target: Some(Active),
            book: count(10),
            expect: Priced(
                r(160, 200),
                r(160, 200),
                vec![],
                vec!["book.volume-count-includes-change"],
            ),
        },
        Case {
            name: "Super SIM already charged this month: nothing now",
            inputs: inputs(|i| i.super_sim = super_sim(Some(true))),
            current: Some(IsInactive),
            target: Some(Active),
            book: count(3),
            expect: Priced(r(0, 0), r(200, 200), vec![], vec![]),
        },
        Case {
            name: "Super SIM, the answer does not say whether it was charged this month",
            inputs: inputs(|i| i.super_sim = super_sim(None)),
            current: Some(IsInactive),
            target: Some(Active),
            book: count(3),
            expect: Priced(
                r(0, 200),
                r(200, 200),
                vec![],
                vec!["sixfab.charged-this-month"],
            ),
        },
        Case {
            name: "Super SIM deactivated: nothing, no refund counted",
            inputs: lone_super(),
            current: Some(IsActive),
            target: Some(Inactive),
            book: none(),
            expect: Priced(r(0, 0), r(0, 0), vec![], vec!["sixfab.no-refund"]),
        },
        // --- PRO SIM.
        Case {
            name: "PRO SIM, default profile: $2; its activation month is not documented",
            inputs: lone_pro(None, None, ProSimHistory::ActivatedBefore),
            current: Some(IsInactive),
            target: Some(Active),
            book: none(),
            expect: Priced(
                r(0, 200),
                r(200, 200),
                vec![],
                vec!["sixfab.pro-sim.activation-month"],
            ),
        },
        Case {
            name: "PRO SIM, the book says the activation month is billed",
            inputs: lone_pro(None, None, ProSimHistory::ActivatedBefore),
            current: Some(IsInactive),
            target: Some(Active),
            book: book(None, None, None),
            expect: Priced(r(200, 200), r(200, 200), vec![], vec![]),
        },
        Case {
            name: "PRO SIM on a profile the answer prices",
            inputs: lone_pro(Some("Asia"), Some(450), ProSimHistory::ActivatedBefore),
            current: Some(IsInactive),
            target: Some(Active),
            book: book(None, None, None),
            expect: Priced(r(450, 450), r(450, 450), vec![], vec![]),
        },
        Case {
            name: "PRO SIM on a profile nobody prices: cannot price",
            inputs: lone_pro(Some("Asia"), None, ProSimHistory::ActivatedBefore),
            current: Some(IsInactive),
            target: Some(Active),
            book: none(),
            expect: NoFigure("no published price", "sims.pro_sim.profiles.\"Asia\""),
        },
        Case {
            name: "PRO SIM first activation in its grace is charged",
            inputs: lone_pro(
                None,
                None,
                ProSimHistory::NeverActivated {
                    since: day(2025, 1, 1),
                },
            ),
            current: Some(IsInactive),
            target: Some(Active),
            book: book(None, None, None),
            expect: Priced(r(200, 200), r(200, 200), vec![], vec![]),
        },
        Case {
            name: "PRO SIM inactive: $0.10 maintenance",
            inputs: lone_pro(None, None, ProSimHistory::ActivatedBefore),
            current: Some(IsActive),
            target: Some(Inactive),
            book: none(),
            expect: Priced(r(0, 0), r(10, 10), vec![], vec!["sixfab.no-refund"]),
        },
        Case {
            name: "PRO SIM never activated, in its grace: nothing",
            inputs: lone_pro(
                None,
                None,
                ProSimHistory::NeverActivated {
                    since: day(2024, 9, 15),
                },
            ),
            current: Some(IsInactive),
            target: None,
            book: none(),
            expect: Priced(r(0, 0), r(0, 0), vec![], vec![]),
        },
        Case {
            name: "PRO SIM never activated, its grace ended today: maintenance",
            inputs: lone_pro(
                None,
                None,
                ProSimHistory::NeverActivated {
                    since: day(2024, 9, 14),
                },
            ),
            current: Some(IsInactive),
            target: None,
            book: none(),
            expect: Priced(r(0, 0), r(10, 10), vec![], vec![]),
        },
        Case {
            name: "PRO SIM whose history is not reported: with or without the fee",
            inputs: lone_pro(None, None, ProSimHistory::NotReported),
            current: Some(IsInactive),
            target: None,
            book: none(),
            expect: Priced(r(0, 0), r(0, 10), vec![], vec!["sixfab.pro-sim.history"]),
        },
        // --- The ALPON: both readings of the asset fee, and whether it recurs.
        Case {
            name: "ALPON, published prices only: every reading",
            inputs: alpon_inputs(),
            current: Some(IsInactive),
            target: Some(Active),
            book: none(),
            expect: Priced(
                r(600, 1000),
                r(0, 1000),
                vec![
                    ("Super SIM", r(0, 200), r(0, 200)),
                    ("PRO SIM", r(0, 200), r(0, 200)),
                    ("asset fee (ALPON device)", r(600, 600), r(0, 600)),
                ],
                vec![
                    "book.volume-count",
                    "sixfab.asset-fee.replaces-sim-fees",
                    "sixfab.pro-sim.activation-month",
                    "sixfab.asset-fee.recurs-monthly",
                ],
            ),
        },
        Case {
            name: "ALPON, the fee on top of the SIM fees, monthly: $2 + $2 + $6",
            inputs: alpon_inputs(),
            current: Some(IsInactive),
            target: Some(Active),
            book: book(Some(3), Some(false), Some(true)),
            expect: Priced(
                r(1000, 1000),
                r(1000, 1000),
                vec![
                    ("Super SIM", r(200, 200), r(200, 200)),
                    ("PRO SIM", r(200, 200), r(200, 200)),
                    ("asset fee", r(600, 600), r(600, 600)),
                ],
                vec![],
            ),
        },
        Case {
            name: "ALPON, the fee instead of the SIM fees, monthly: $6",
            inputs: alpon_inputs(),
            current: Some(IsInactive),
            target: Some(Active),
            book: book(Some(3), Some(true), Some(true)),
            expect: Priced(
                r(600, 600),
                r(600, 600),
                vec![
                    ("Super SIM", r(0, 0), r(0, 0)),
                    ("PRO SIM", r(0, 0), r(0, 0)),
                    ("asset fee", r(600, 600), r(600, 600)),
                ],
                vec![],
            ),
        },
        Case {
            name: "ALPON, on top, charged on activation only",
            inputs: alpon_inputs(),
            current: Some(IsInactive),
            target: Some(Active),
            book: book(Some(3), Some(false), Some(false)),
            expect: Priced(r(1000, 1000), r(400, 400), vec![], vec![]),
        },
        Case {
            name: "ALPON re-activated in a month its fee was charged in",
            inputs: inputs(|i| {
                *i = alpon_inputs();
                i.asset_fee_charged_this_month = Some(true);
                i.super_sim = super_sim(Some(true));
                i.pro_sim.as_mut().unwrap().charged_this_month = Some(true);
            }),
            current: Some(IsInactive),
            target: Some(Active),
            book: book(Some(3), Some(false), Some(true)),
            expect: Priced(
                r(0, 600),
                r(1000, 1000),
                vec![],
                vec!["sixfab.asset-fee.once-a-month"],
            ),
        },
        Case {
            name: "ALPON with one SIM: no asset fee",
            inputs: inputs(|i| {
                i.super_sim = super_sim(Some(false));
                i.device = alpon();
            }),
            current: Some(IsInactive),
            target: Some(Active),
            book: count(3),
            expect: Priced(
                r(200, 200),
                r(200, 200),
                vec![
                    ("Super SIM", r(200, 200), r(200, 200)),
                    ("asset fee", r(0, 0), r(0, 0)),
                ],
                vec![],
            ),
        },
        Case {
            name: "ALPON deactivated: the PRO SIM's maintenance only",
            inputs: alpon_inputs(),
            current: Some(IsActive),
            target: Some(Inactive),
            book: none(),
            expect: Priced(
                r(0, 0),
                r(10, 10),
                vec![
                    ("Super SIM", r(0, 0), r(0, 0)),
                    ("PRO SIM", r(0, 0), r(10, 10)),
                    ("asset fee", r(0, 0), r(0, 0)),
                ],
                vec!["sixfab.no-refund"],
            ),
        },
        Case {
            name: "ALPON renamed while active: nothing now, the month as it stays",
            inputs: alpon_inputs(),
            current: Some(IsActive),
            target: None,
            book: book(Some(3), Some(false), Some(true)),
            expect: Priced(r(0, 0), r(1000, 1000), vec![], vec![]),
        },
        Case {
            name: "ALPON activated from a status this SDK does not know",
            inputs: alpon_inputs(),
            current: Some(AssetStatus::Unknown("hibernating".into())),
            target: Some(Active),
            book: book(Some(3), Some(false), Some(true)),
            expect: Priced(
                r(0, 1000),
                r(1000, 1000),
                vec![],
                vec!["sixfab.current-status"],
            ),
        },
        // --- Other devices.
        Case {
            name: "another device's reported fee",
            inputs: inputs(|i| {
                *i = alpon_inputs();
                i.device = DeviceKind::Other {
                    name: "Gateway".into(),
                    reported_fee: Some(usd(350)),
                };
            }),
            current: Some(IsInactive),
            target: Some(Active),
            book: count(3),
            expect: Priced(
                r(350, 750),
                r(0, 750),
                vec![("asset fee (Gateway device)", r(350, 350), r(0, 350))],
                vec![
                    "sixfab.asset-fee.replaces-sim-fees",
                    "sixfab.pro-sim.activation-month",
                    "sixfab.asset-fee.recurs-monthly",
                ],
            ),
        },
        Case {
            name: "another device without a fee anyone publishes: cannot price",
            inputs: inputs(|i| {
                *i = alpon_inputs();
                i.device = DeviceKind::Other {
                    name: "Gateway".into(),
                    reported_fee: None,
                };
            }),
            current: Some(IsInactive),
            target: Some(Active),
            book: none(),
            expect: NoFigure("no published price", "assets.gateway.fee"),
        },
        Case {
            name: "both SIMs, no device named: cannot price the asset fee",
            inputs: inputs(|i| {
                *i = alpon_inputs();
                i.device = DeviceKind::NotReported;
            }),
            current: Some(IsInactive),
            target: Some(Active),
            book: none(),
            expect: NoFigure(
                "no published price",
                "whose device the answer does not name",
            ),
        },
        // --- What cannot be priced at all.
        Case {
            name: "no status and none set",
            inputs: alpon_inputs(),
            current: None,
            target: None,
            book: none(),
            expect: NoFigure("unknown current state", "reports no status"),
        },
        Case {
            name: "no SIM: an unrecognised shape",
            inputs: inputs(|_| {}),
            current: Some(IsInactive),
            target: Some(Active),
            book: none(),
            expect: NoFigure("unrecognised shape", "neither a Super SIM nor a PRO SIM"),
        },
        Case {
            name: "a book in euros has no Super SIM price",
            inputs: lone_super(),
            current: Some(IsInactive),
            target: Some(Active),
            book: PriceBook {
                currency: Some(Currency::EUR),
                ..PriceBook::default()
            },
            expect: NoFigure("no published price", "sims.super_sim.active_monthly"),
        },
    ]
}

#[test]
fn every_rule_and_both_alpon_readings() {
    for case in cases() {
        let e = estimate(&case.inputs, case.current.as_ref(), case.target, &case.book);
        match case.expect {
            Priced(now, monthly, lines, assumptions) => {
                let c = e
                    .charge()
                    .unwrap_or_else(|| panic!("{}: not priced: {e}", case.name));
                assert_eq!((c.now, c.monthly), (now, monthly), "{}:\n{c}", case.name);
                assert_eq!(
                    c.now,
                    c.lines.iter().map(|l| l.now).sum::<ChargeRange>(),
                    "{}",
                    case.name
                );
                for (item, now, monthly) in lines {
                    let l = c
                        .lines
                        .iter()
                        .find(|l| l.item.starts_with(item))
                        .unwrap_or_else(|| panic!("{}: no line {item}:\n{c}", case.name));
                    assert_eq!((l.now, l.monthly), (now, monthly), "{}: {item}", case.name);
                }
                let ids: Vec<&str> = c.assumptions().iter().map(|a| &*a.id).collect();
                assert_eq!(ids, assumptions, "{}:\n{c}", case.name);
                // An open question is exactly what makes a range.
                let open = c.assumptions().iter().any(|a| a.is_open());
                assert_eq!(open, !c.is_exact(), "{}:\n{c}", case.name);
                let text = c.to_string();
                for l in &c.lines {
                    assert!(text.contains(&*l.rule.id), "{}: {text}", case.name);
                }
            }
            NoFigure(label, words) => {
                let reason = e
                    .reason()
                    .unwrap_or_else(|| panic!("{}: priced: {e}", case.name));
                assert_eq!(reason.label(), label, "{}: {reason}", case.name);
                let text = e.to_string();
                assert!(text.contains(words), "{}: {text}", case.name);
                assert!(!text.contains("$0.00"), "{}: {text}", case.name);
            }
        }
    }
}

#[test]
fn the_display_states_every_assumption_and_how_to_settle_it() {
    let e = estimate(&alpon_inputs(), Some(&IsInactive), Some(Active), &none());
    let text = e.to_string();
    assert!(
        text.starts_with(
            "$6.00 to $10.00 now, $0.00 to $10.00 a month after (a range: 4 open questions below)"
        ),
        "{text}"
    );
    for words in [
        "not whether it stands instead of the two SIM fees or on top of them",
        "the range covers: on top of the SIM fees; or instead of the SIM fees",
        "set assets.alpon.replaces_sim_fees in your price book",
        "set assets.alpon.recurs_monthly in your price book",
        "set sims.pro_sim.activation_month_billed in your price book",
        "set active_sims in your price book",
        "input: active SIMs on the account before the change: not given",
        "input: reckoned on: 2025-03-14 (\"this month\" is 2025-03)",
        "[sixfab.super-sim.active]",
    ] {
        assert!(text.contains(words), "{words:?} not in:\n{text}");
    }
    let exact = estimate(
        &alpon_inputs(),
        Some(&IsInactive),
        Some(Active),
        &book(Some(14), Some(false), Some(true)),
    );
    let text = exact.to_string();
    assert!(
        text.starts_with("$9.60 now, $9.60 a month after (exact by the rules below)"),
        "{text}"
    );
    assert!(
        text.contains("active SIMs on the account before the change: 14 (your price book's"),
        "{text}"
    );
}

#[test]
fn the_volume_tier_counts_every_active_sim() {
    // 9 SIMs active before; activating an ALPON adds 2: 11 is more than 10.
    let e = estimate(
        &alpon_inputs(),
        Some(&IsInactive),
        Some(Active),
        &book(Some(9), Some(false), Some(true)),
    );
    let c = e.charge().unwrap();
    assert_eq!(c.lines[0].monthly, r(160, 200));
    assert!(c.to_string().contains("from 9 to 11 active SIMs"), "{c}");
    // While the asset stays active its SIMs are counted already.
    let e = estimate(
        &alpon_inputs(),
        Some(&IsActive),
        None,
        &book(Some(11), Some(false), Some(true)),
    );
    assert_eq!(e.charge().unwrap().lines[0].monthly, r(160, 160));
    assert!(VOLUME_COUNTS.contains("PRO SIMs"));
}

#[test]
fn the_published_book() {
    let p = published();
    assert_eq!(p.provider.as_deref(), Some("sixfab"));
    let s = p.sim_prices(SUPER_SIM);
    assert_eq!(
        (s.active_monthly, s.inactive_monthly),
        (Some(usd(200)), Some(usd(0)))
    );
    assert_eq!(s.active_at(11), Some(usd(160)));
    assert_eq!(s.active_at(10), Some(usd(200)));
    assert_eq!(s.activation_month_billed, Some(true));
    let pro = p.sim_prices(PRO_SIM);
    assert_eq!(pro.profile(DEFAULT_SERVICE_PROFILE), Some(usd(200)));
    assert_eq!(pro.inactive_monthly, Some(usd(10)));
    assert_eq!(pro.activation_month_billed, None, "not documented");
    let a = p.asset(ALPON);
    assert_eq!(a.fee, Some(usd(600)));
    assert_eq!(
        (a.replaces_sim_fees, a.recurs_monthly, a.once_a_month),
        (None, None, None),
        "not documented"
    );
    assert_eq!(grace_end(day(2024, 8, 31)), day(2025, 2, 28));
    assert_eq!(grace_end(NaiveDate::MAX), NaiveDate::MAX);
}

#[test]
fn inputs_from_an_asset() {
    let asset = |v| Asset::from_json(v).unwrap();
    let a = asset(json!({
        "status": "inactive",
        "supersim": {"status": "inactive", "last_charged_at": "2025-03-01T10:00:00Z"},
        "prosim": {"status": "inactive", "first_activated_at": null, "added_at": "2025-01-10",
                   "last_charged_at": null,
                   "service_profile": {"name": "Asia", "monthly_price": "4.50"}},
        "device": {"type": "ALPON X4", "asset_fee_last_charged_at": "2025-02-27"}
    }));
    let i = ChargeInputs::from_asset(&a, today()).unwrap();
    assert_eq!(i.super_sim, super_sim(Some(true)));
    assert_eq!(
        i.pro_sim,
        Some(ProSim {
            profile: Some("Asia".into()),
            reported_price: Some(usd(450)),
            history: ProSimHistory::NeverActivated {
                since: day(2025, 1, 10)
            },
            charged_this_month: Some(false),
        })
    );
    assert_eq!(i.device, alpon());
    assert_eq!(i.asset_fee_charged_this_month, Some(false));
    assert_eq!(
        i.reported().sim_prices(PRO_SIM).profile("asia"),
        Some(usd(450))
    );

    // Keys the answer does not carry are "not reported", never "no".
    let bare = asset(json!({"status": "active", "supersim": {}, "prosim": {}}));
    let i = ChargeInputs::from_asset(&bare, today()).unwrap();
    assert_eq!(i.super_sim, super_sim(None));
    let p = i.pro_sim.unwrap();
    assert_eq!(
        (p.history, p.charged_this_month),
        (ProSimHistory::NotReported, None)
    );
    assert_eq!(i.device, DeviceKind::NotReported);
    let other = asset(json!({"supersim": {}, "device": {"type": "gateway", "asset_fee": "3.50"}}));
    let i = ChargeInputs::from_asset(&other, today()).unwrap();
    assert_eq!(
        i.device,
        DeviceKind::Other {
            name: "gateway".into(),
            reported_fee: Some(usd(350))
        }
    );
    assert_eq!(i.reported().asset("gateway").fee, Some(usd(350)));
}

#[test]
fn an_unrecognised_asset_cannot_be_priced() {
    for shape in [
        json!({"status": "inactive"}),
        json!({"id": "SN-1", "status": "active", "sims": [{"type": "supersim", "status": "active"}]}),
        json!({"status": "inactive", "supersim": null, "prosim": "none"}),
    ] {
        let a = Asset::from_json(shape.clone()).unwrap();
        let e = estimate_asset(&a, Some(Active), &none(), today());
        match e.reason() {
            Some(UnpricedReason::UnrecognisedShape { detail }) => {
                assert!(
                    detail.contains("no `supersim` or `prosim` object"),
                    "{detail}"
                )
            }
            other => panic!("{shape}: {other:?}"),
        }
        assert!(!e.to_string().contains('$'), "{e}");
    }
}

proptest! {
    #[test]
    fn no_input_panics_and_every_range_holds_together(
        count in proptest::option::of(0u32..40),
        price in proptest::option::of(0u64..1_000_000),
        since_days in -100_000i64..100_000,
        flags in any::<(bool, bool, bool, u8, bool, u8)>(),
        readings in any::<(u8, u8, u8)>(),
        statuses in any::<(u8, u8)>(),
    ) {
        let tri = |n: u8| match n % 3 { 0 => None, 1 => Some(true), _ => Some(false) };
        let since = today() + chrono::Duration::days(since_days);
        let mut i = ChargeInputs::new(today());
        i.super_sim = flags.0.then_some(SuperSim { charged_this_month: tri(flags.3) });
        i.pro_sim = flags.1.then(|| ProSim {
            profile: price.map(|_| "Asia".to_owned()),
            reported_price: price.map(usd),
            history: match flags.5 % 3 {
                0 => ProSimHistory::ActivatedBefore,
                1 => ProSimHistory::NeverActivated { since },
                _ => ProSimHistory::NotReported,
            },
            charged_this_month: tri(flags.5 / 3),
        });
        i.device = if flags.2 { alpon() } else { DeviceKind::NotReported };
        i.asset_fee_charged_this_month = tri(flags.5 / 9);
        let mut b = book(count, tri(readings.0), tri(readings.1));
        b.assets.get_mut(ALPON).unwrap().once_a_month = tri(readings.2);
        let current = match statuses.0 % 3 {
            0 => None,
            1 => Some(IsActive),
            _ => Some(IsInactive),
        };
        let target = match statuses.1 % 3 { 0 => None, 1 => Some(Active), _ => Some(Inactive) };
        let e = estimate(&i, current.as_ref(), target, &b);
        if let Some(c) = e.charge() {
            prop_assert_eq!(c.now, c.lines.iter().map(|l| l.now).sum::<ChargeRange>());
            prop_assert_eq!(c.monthly, c.lines.iter().map(|l| l.monthly).sum::<ChargeRange>());
            prop_assert!(c.now.low <= c.now.high && c.monthly.low <= c.monthly.high);
            if target == Some(Inactive) || target.is_none() {
                prop_assert_eq!(c.now, ChargeRange::ZERO);
            }
            // Every range has a reason.
            for l in &c.lines {
                if !(l.now.is_exact() && l.monthly.is_exact()) {
                    prop_assert!(l.assumptions.iter().any(|a| a.is_open()), "{}", c);
                }
            }
        }
    }
}
