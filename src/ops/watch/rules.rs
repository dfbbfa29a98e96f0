//! From runs of observations to alerts, without flapping: a subject alerts after `failures`
//! failures in a row, and is resolved after `successes` successes in a row. Pure: the
//! watcher keeps the states (in the journal, so `watch --once` from cron counts across runs).

pub use crate::journal::WatchState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Fire,
    Resolve,
}

/// Fold one observation into `st`; says whether an alert fires or resolves now.
pub fn step(
    st: &mut WatchState,
    ok: bool,
    message: &str,
    failures: u32,
    successes: u32,
    now: &str,
) -> Option<Transition> {
    if ok {
        st.failing = 0;
        st.passing = st.passing.saturating_add(1);
        if st.alerting && st.passing >= successes.max(1) {
            st.alerting = false;
            st.since = None;
            return Some(Transition::Resolve);
        }
        None
    } else {
        st.passing = 0;
        st.failing = st.failing.saturating_add(1);
        st.message = message.to_string();
        if !st.alerting && st.failing >= failures.max(1) {
            st.alerting = true;
            st.since = Some(now.to_string());
            return Some(Transition::Fire);
        }
        None
    }
}

/// Whether another look would decide something: a failing subject not yet alerting, or an
/// alerting one that has started to pass (`watch --once` looks again until none is).
pub fn undecided(st: &WatchState) -> bool {
    (!st.alerting && st.failing > 0) || (st.alerting && st.passing > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seq: &[bool], failures: u32, successes: u32) -> Vec<Option<Transition>> {
        let mut st = WatchState::default();
        seq.iter()
            .map(|ok| step(&mut st, *ok, "down", failures, successes, "t"))
            .collect()
    }

    #[test]
    fn fires_after_n_failures_and_resolves_after_m_successes() {
        use Transition::*;
        assert_eq!(
            run(&[false, false, false, true, true, true], 2, 2),
            vec![None, Some(Fire), None, None, Some(Resolve), None]
        );
    }

    #[test]
    fn flapping_never_alerts() {
        let r = run(&[false, true, false, true, false, true, false], 2, 2);
        assert!(r.iter().all(Option::is_none), "{r:?}");
        // Once alerting, one success in between is not a recovery.
        let r = run(&[false, false, true, false, true, true], 2, 2);
        assert_eq!(
            r.iter().filter(|t| t.is_some()).count(),
            2,
            "one fire, one resolve: {r:?}"
        );
    }

    #[test]
    fn undecided_states() {
        let mut st = WatchState::default();
        assert!(!undecided(&st));
        step(&mut st, false, "x", 3, 2, "t");
        assert!(undecided(&st));
        step(&mut st, false, "x", 3, 2, "t");
        step(&mut st, false, "x", 3, 2, "t");
        assert!(st.alerting && !undecided(&st));
        step(&mut st, true, "", 3, 2, "t");
        assert!(undecided(&st));
        assert_eq!(
            step(&mut st, true, "", 3, 2, "t"),
            Some(Transition::Resolve)
        );
        assert!(!undecided(&st));
    }
}
