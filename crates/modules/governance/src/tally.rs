//! When a proposal is decided: FISCO BCOS's two thresholds over vote weight.
//!
//! A decision needs *participation* (the weight that voted, as a share of
//! the consortium's total) and *approval* (the weight approving, as a share
//! of the weight that voted). A proposal is approved as soon as no further
//! vote could undo it — its approving weight alone reaches both thresholds
//! of the total — and rejected as soon as no further vote could approve it.
//! Otherwise it waits for its last voting height, where the thresholds
//! decide on the votes cast.

/// The outcome of a tally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    Rejected,
    Undecided,
}

/// Percentages and weights of one tally.
#[derive(Clone, Copy, Debug)]
pub struct Tally {
    pub yes: u64,
    pub no: u64,
    pub total: u64,
    pub participation_pct: u8,
    pub approval_pct: u8,
}

impl Tally {
    fn share_at_least(part: u64, whole: u64, pct: u8) -> bool {
        // Weights are bounded (MAX_VOTE_WEIGHT × MAX_ORGS × 100 < u64::MAX).
        part * 100 >= whole * u64::from(pct)
    }

    fn participation_met(&self) -> bool {
        Self::share_at_least(self.yes + self.no, self.total, self.participation_pct)
    }

    /// While votes may still come.
    pub fn early(&self) -> Outcome {
        let remaining = self.total.saturating_sub(self.yes + self.no);
        // Every further vote a no: the share approving only falls to yes/total.
        if Self::share_at_least(self.yes, self.total, self.approval_pct) && self.participation_met()
        {
            return Outcome::Approved;
        }
        // Every further vote a yes: the best share approving is (yes + remaining)/total.
        if !Self::share_at_least(self.yes + remaining, self.total, self.approval_pct) {
            return Outcome::Rejected;
        }
        Outcome::Undecided
    }

    /// At the last voting height.
    pub fn last(&self) -> Outcome {
        if self.participation_met()
            && Self::share_at_least(self.yes, self.yes + self.no, self.approval_pct)
        {
            Outcome::Approved
        } else {
            Outcome::Rejected
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(yes: u64, no: u64, total: u64) -> Tally {
        Tally {
            yes,
            no,
            total,
            participation_pct: 51,
            approval_pct: 51,
        }
    }

    #[test]
    fn four_equal_organisations_need_three_approvals_early() {
        assert_eq!(t(1, 0, 4).early(), Outcome::Undecided);
        assert_eq!(t(2, 0, 4).early(), Outcome::Undecided);
        assert_eq!(t(3, 0, 4).early(), Outcome::Approved);
        assert_eq!(t(2, 1, 4).early(), Outcome::Undecided);
        assert_eq!(t(1, 2, 4).early(), Outcome::Rejected);
        assert_eq!(t(0, 2, 4).early(), Outcome::Rejected);
    }

    #[test]
    fn at_expiry_the_votes_cast_decide() {
        // 2 of 4 voted: participation 50 % < 51 %.
        assert_eq!(t(2, 0, 4).last(), Outcome::Rejected);
        // 3 of 4 voted, 2 approve: 67 % ≥ 51 %.
        assert_eq!(t(2, 1, 4).last(), Outcome::Approved);
        assert_eq!(t(1, 2, 4).last(), Outcome::Rejected);
    }

    #[test]
    fn weights_count_not_heads() {
        // One organisation of weight 3 among four: it alone is 50 %.
        assert_eq!(t(3, 0, 6).early(), Outcome::Undecided);
        assert_eq!(t(4, 0, 6).early(), Outcome::Approved);
        assert_eq!(t(0, 3, 6).early(), Outcome::Rejected);
    }

    #[test]
    fn an_early_decision_is_never_undone_by_later_votes() {
        for total in 1..12u64 {
            for yes in 0..=total {
                for no in 0..=(total - yes) {
                    let now = t(yes, no, total).early();
                    let rest = total - yes - no;
                    for more_yes in 0..=rest {
                        for more_no in 0..=(rest - more_yes) {
                            let later = t(yes + more_yes, no + more_no, total);
                            match now {
                                Outcome::Approved => assert_eq!(later.last(), Outcome::Approved),
                                Outcome::Rejected => assert_eq!(later.last(), Outcome::Rejected),
                                Outcome::Undecided => {}
                            }
                        }
                    }
                }
            }
        }
    }
}
