//! Property tests of the small value languages of scenario files (durations, rates, sizes,
//! percentages, distributions, threshold keys and rules): no input makes a parser panic, what a
//! parser accepts is in range, and the values people write mean what they say.

use std::time::Duration;

use proptest::prelude::*;
use rand::SeedableRng as _;

use super::distribution::Distribution;
use super::threshold::{Aggregate, Cmp, parse_key, parse_rule};
use super::units::{format_duration, parse_duration, parse_percent, parse_rate, parse_size};
use crate::metrics::Metric;

/// Text that looks like what people (and fuzzers) write in these fields: digits, units,
/// separators, signs, exponents and the odd unicode character.
fn scenario_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9eE.+\\-]{0,30}[a-zµ%/ ]{0,6}[0-9a-z.()=, ]{0,20}",
        "(fixed|uniform|normal|lognormal|exponential)\\([0-9a-z.=, ]{0,40}\\)?",
        "(p\\([0-9.e+-]{0,8}\\)|avg|med|min|max|count|rate|growth) ?(<|<=|>|>=|==|!=) ?[0-9.e+-]{0,24}[a-zA-Z%]{0,4}",
    ]
}

const UNITS: [(&str, u64); 5] =
    [("ms", 1_000), ("s", 1_000_000), ("m", 60_000_000), ("h", 3_600_000_000), ("d", 86_400_000_000)];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn no_text_makes_a_parser_panic(text in scenario_text()) {
        let _ = parse_duration(&text);
        let _ = parse_size(&text);
        let _ = Distribution::parse(&text);
        let _ = parse_key(&text);
        for metric in Metric::ALL {
            let _ = parse_rule(metric, &text);
        }
        if let Ok(rate) = parse_rate(&text) {
            prop_assert!(rate.is_finite() && rate >= 0.0, "{text:?} gave the rate {rate}");
        }
        if let Ok(p) = parse_percent(&text) {
            prop_assert!((0.0..=100.0).contains(&p), "{text:?} gave {p}%");
        }
    }

    #[test]
    fn a_whole_duration_means_what_it_says(n in 0u64..1_000_000, unit in 0usize..UNITS.len(), space in any::<bool>()) {
        let (name, us) = UNITS[unit];
        let text = format!("{n}{}{name}", if space { " " } else { "" });
        prop_assert_eq!(parse_duration(&text), Ok(Duration::from_micros(n * us)));
    }

    #[test]
    fn a_fractional_duration_is_exact_to_the_microsecond(n in 0u64..100_000, tenths in 0u64..10, unit in 0usize..UNITS.len()) {
        let (name, us) = UNITS[unit];
        let d = parse_duration(&format!("{n}.{tenths}{name}")).map_err(TestCaseError::fail)?;
        let expected = (n * 10 + tenths) as f64 * us as f64 / 10.0;
        prop_assert!((d.as_micros() as f64 - expected).abs() <= 1.0 + expected * 1e-12, "{d:?} for {n}.{tenths}{name}");
    }

    #[test]
    fn huge_durations_are_errors_or_exact(digits in "[1-9][0-9]{15,40}", frac in any::<bool>(), unit in 0usize..UNITS.len()) {
        // Past what a duration can hold: an error, never an overflow panic.
        let text = format!("{digits}{}{}", if frac { ".5" } else { "" }, UNITS[unit].0);
        if let Ok(d) = parse_duration(&text) {
            prop_assert!(d.as_secs() > 0, "{text} gave {d:?}");
        }
    }

    #[test]
    fn formatted_durations_read_back(secs in 0u64..10_000_000, millis in 0u64..1_000) {
        // What reports print, a scenario can say: whole seconds, and milliseconds under a second.
        let d = if secs == 0 { Duration::from_millis(millis) } else { Duration::from_secs(secs) };
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{}", format_duration(d));
    }

    #[test]
    fn rates_are_counts_per_unit(n in 0u32..10_000_000, unit in 0usize..4) {
        let (name, per) = [("s", 1.0), ("m", 60.0), ("h", 3600.0), ("d", 86400.0)][unit];
        let rate = parse_rate(&format!("{n}/{name}")).map_err(TestCaseError::fail)?;
        prop_assert!((rate - f64::from(n) / per).abs() <= 1e-9 * (1.0 + rate), "{n}/{name} gave {rate}");
    }

    #[test]
    fn infinite_or_nan_rates_are_named(sign in "[+-]?", word in "(inf|infinity|NaN|nan|1e400|1e308)", per in "(s|1ns|1ms)") {
        let text = format!("{sign}{word}/{per}");
        match parse_rate(&text) {
            Ok(rate) => prop_assert!(rate.is_finite(), "{text} gave {rate}"),
            Err(e) => prop_assert!(
                e.contains("NaN") || e.contains("infinite") || e.contains("negative") || e.contains("too large"),
                "{text}: {e}"
            ),
        }
    }

    #[test]
    fn binary_sizes_are_powers_of_1024(n in 0u64..(1 << 30), unit in 0usize..4) {
        let (name, mult) = [("B", 1u64), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)][unit];
        prop_assert_eq!(parse_size(&format!("{n}{name}")), Ok(n * mult));
    }

    #[test]
    fn percentages_in_range_parse_and_the_rest_do_not(p in -1_000.0f64..1_000.0) {
        let text = format!("{p}%");
        let parsed = parse_percent(&text);
        prop_assert_eq!(parsed.is_ok(), (0.0..=100.0).contains(&p), "{} gave {:?}", text, parsed);
    }

    #[test]
    fn distributions_draw_within_their_bounds(a in 0u64..100_000, b in 0u64..100_000, seed in any::<u64>()) {
        let (lo, hi) = (a.min(b), a.max(b));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let fixed = Distribution::parse(&format!("fixed({lo}ms)")).map_err(TestCaseError::fail)?;
        prop_assert_eq!(fixed.sample(&mut rng), Duration::from_millis(lo));
        let uniform = Distribution::parse(&format!("uniform({lo}ms, {hi}ms)")).map_err(TestCaseError::fail)?;
        for _ in 0..20 {
            let v = uniform.sample(&mut rng);
            prop_assert!(v >= Duration::from_millis(lo) && v <= Duration::from_millis(hi), "{:?} outside {}..{} ms", v, lo, hi);
        }
        if lo < hi {
            prop_assert!(Distribution::parse(&format!("uniform({hi}ms, {lo}ms)")).is_err(), "min above max is refused");
        }
        if lo > 0 {
            let text = format!("lognormal(p50 = {lo}ms, p99 = {hi}ms)");
            prop_assert!(Distribution::parse(&text).is_ok(), "{}", text);
        }
    }

    #[test]
    fn latency_rules_keep_their_operator_and_limit(n in 0u64..10_000_000, op in 0usize..6, pct in 1u32..1000) {
        let (text, cmp) = [("<", Cmp::Lt), ("<=", Cmp::Le), (">", Cmp::Gt), (">=", Cmp::Ge), ("==", Cmp::Eq), ("!=", Cmp::Ne)][op];
        let p = f64::from(pct) / 10.0;
        let rule = parse_rule(Metric::MessageLatency, &format!("p({p}) {text} {n}ms")).map_err(TestCaseError::fail)?;
        prop_assert_eq!(rule.cmp, cmp);
        prop_assert_eq!(rule.aggregate, Aggregate::Percentile(p));
        prop_assert!((rule.limit - n as f64 * 1_000.0).abs() < 1e-6);
        let count = parse_rule(Metric::MessagesLost, &format!("count {text} {n}")).map_err(TestCaseError::fail)?;
        prop_assert_eq!(count.limit, n as f64);
    }

    #[test]
    fn keys_name_a_metric_and_at_most_one_tag(metric in 0usize..Metric::ALL.len(), name in "[a-z][a-z0-9_-]{0,20}", group in any::<bool>()) {
        let m = Metric::ALL[metric];
        prop_assert_eq!(parse_key(m.name()).map(|(m, t)| (m, t.is_empty())), Ok((m, true)));
        let key = format!("{}{{{}=\"{name}\"}}", m.name(), if group { "group" } else { "phase" });
        match parse_key(&key) {
            Ok((parsed, tags)) => {
                let accepts = if group { m.group_taggable() } else { m.taggable() };
                prop_assert!(accepts, "{key} was accepted");
                prop_assert_eq!(parsed, m);
                prop_assert_eq!(tags.len(), 1);
                prop_assert_eq!(&tags[0].value, &name);
            }
            Err(e) => {
                let accepts = if group { m.group_taggable() } else { m.taggable() };
                prop_assert!(!accepts, "{key}: {e}");
            }
        }
        let both = format!("{}{{phase=\"{name}\", group=\"{name}-g\"}}", m.name());
        if let Ok((_, tags)) = parse_key(&both) {
            prop_assert_eq!(tags.iter().map(|t| (t.key.as_str(), t.value.clone())).collect::<Vec<_>>(),
                vec![("phase", name.clone()), ("group", format!("{name}-g"))]);
        }
    }
}
