//! The watchtower's decisions as a pure function of what the chain says about a request and what
//! the watchtower remembers of it: `(on-chain facts, local state) -> (new state, actions)`,
//! tested without a chain. The agent (`super::Watcher::advance`) gathers the facts, calls
//! [`decide`], and carries the actions out.
//!
//! The rule that makes one honest watcher enough: **every proposal of every request is checked,
//! whoever challenged before.** A request stays watched until it is final or cancelled; a
//! dispute someone else plays is followed to its end, a dismissed challenge (the challenger ran
//! out of clock) puts the same proposal back in its window, and a reopened request's next
//! proposal is checked like the first.

use alloy::primitives::{keccak256, Address, B256};
pub use verdict_runtime::RequestStatus;

use crate::store::WatchStatus;

/// The live proposal of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Who proposed.
    pub proposer: Address,
    /// keccak256 of the proposed output.
    pub output_hash: B256,
    /// The proposed trace root.
    pub trace_root: B256,
    /// The end of its liveness window (block time).
    pub deadline: u64,
}

impl Proposal {
    /// What identifies a proposal across passes (the deadline is not part of it: a dismissed
    /// challenge moves the deadline of the same proposal).
    pub fn key(&self) -> B256 {
        keccak256([self.proposer.as_slice(), self.output_hash.as_slice(), self.trace_root.as_slice()].concat())
    }
}

/// What the chain says about one request, read in one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The request's status.
    pub status: RequestStatus,
    /// The live proposal (`Proposed`, `Challenged`, `Confirmed`).
    pub proposal: Option<Proposal>,
    /// The live challenger (`Challenged`).
    pub challenger: Option<Address>,
    /// The latest block's time.
    pub now: u64,
}

/// What the watchtower knows and wants, besides its stored state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Local {
    /// Where we stood after the last pass.
    pub status: WatchStatus,
    /// The last proposal we checked (its [`Proposal::key`]).
    pub checked: Option<B256>,
    /// Our correct answer: keccak256 of the output and the trace root; `None` for a blind
    /// record (a private model: we cannot re-execute, we challenge untrusted proposers).
    pub ours: Option<(B256, B256)>,
    /// Our address.
    pub me: Address,
    /// Whether the live proposal's proposer is one we trust (blind records only).
    pub trusted: bool,
    /// Do not challenge with less than this many seconds left in the window.
    pub margin: u64,
}

/// What the agent does, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A proposal not seen before by the agent: report it (a mismatch when `wrong`).
    Checked {
        /// Whether it differs from our trace (or is untrusted, blind).
        wrong: bool,
    },
    /// Challenge the live proposal, with our trace root (`None`: blind).
    Challenge {
        /// Our trace root.
        root: Option<B256>,
    },
    /// Our challenge is live: play the challenger's next move (or call the proposer's timeout).
    Play,
    /// Our challenge was mined but not recorded (a crash in between): count it now.
    CountChallenge,
    /// Our dispute ended: count whether we won (the `DisputeResolved` event says).
    CountOutcome,
    /// Answer the reopened request with a proof of the correct output (if we can prove).
    ProveOutput,
}

/// The next state and actions for one request. The table, one row a case (our dispute's end is
/// counted first, whatever follows):
///
/// | on-chain | the live proposal | local | → status | actions |
/// |---|---|---|---|---|
/// | any but our live challenge | — | Challenged | (below) | CountOutcome, then the row below |
/// | Finalized / Cancelled | — | any | Done | — |
/// | Requested | never proposed | Watching, nothing checked | Watching | — |
/// | Requested | thrown out | any other | Reopened | ProveOutput (not blind) |
/// | Challenged by us | — | not Challenged | Challenged | CountChallenge, Play |
/// | Challenged by us | — | Challenged | Challenged | Play |
/// | Proposed / Challenged / Confirmed | new to us | any | (below) | Checked, then the row below |
/// | Proposed / Challenged / Confirmed | right, trusted, or ours | any | Watching | — |
/// | Challenged (by another) / Confirmed | wrong | any | Watching | — (followed to its end) |
/// | Proposed | wrong, window closing | any | Late | — |
/// | Proposed | wrong, window open | any | Mismatch | Challenge |
pub fn decide(facts: &Facts, local: &Local) -> (WatchStatus, Option<B256>, Vec<Action>) {
    let mut actions = Vec::new();
    // Our dispute is over once the chain no longer shows us as the live challenger.
    let ours_live = facts.status == RequestStatus::Challenged && facts.challenger == Some(local.me);
    let mut checked = local.checked;
    if local.status == WatchStatus::Challenged && !ours_live {
        actions.push(Action::CountOutcome);
        // Whatever is live now (a new proposal after our win, or the same one after we ran out
        // of clock) is checked afresh.
        checked = None;
    }
    match facts.status {
        RequestStatus::Finalized | RequestStatus::Cancelled => (WatchStatus::Done, checked, actions),
        RequestStatus::Requested => {
            // Never proposed yet: wait. Proposed once and open again: the proposal was thrown out.
            if local.checked.is_none() && local.status == WatchStatus::Watching {
                return (WatchStatus::Watching, None, actions);
            }
            if local.ours.is_some() {
                actions.push(Action::ProveOutput);
            }
            (WatchStatus::Reopened, None, actions)
        }
        RequestStatus::Challenged if ours_live => {
            if local.status != WatchStatus::Challenged {
                actions.push(Action::CountChallenge);
            }
            actions.push(Action::Play);
            (WatchStatus::Challenged, checked, actions)
        }
        RequestStatus::Proposed | RequestStatus::Challenged | RequestStatus::Confirmed => {
            let Some(p) = facts.proposal else { return (local.status, checked, actions) };
            let wrong = match local.ours {
                Some((output, root)) => p.output_hash != output || p.trace_root != root,
                None => !local.trusted,
            } && p.proposer != local.me;
            let key = p.key();
            if checked != Some(key) {
                actions.push(Action::Checked { wrong });
            }
            if !wrong {
                return (WatchStatus::Watching, Some(key), actions);
            }
            if facts.status != RequestStatus::Proposed {
                // Someone else's dispute (followed to its end), or a proof accepted for what our
                // engine says is wrong (which only a bug of ours explains: never challenged again).
                return (WatchStatus::Watching, Some(key), actions);
            }
            if facts.now + local.margin >= p.deadline {
                return (WatchStatus::Late, Some(key), actions);
            }
            actions.push(Action::Challenge { root: local.ours.map(|(_, root)| root) });
            (WatchStatus::Mismatch, Some(key), actions)
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::address;

    use super::*;

    const ME: Address = address!("0x00000000000000000000000000000000000000aa");
    const LIAR: Address = address!("0x00000000000000000000000000000000000000bb");
    const PUPPET: Address = address!("0x00000000000000000000000000000000000000cc");

    fn ours() -> (B256, B256) {
        (B256::repeat_byte(1), B256::repeat_byte(2))
    }

    fn lie() -> Proposal {
        Proposal { proposer: LIAR, output_hash: B256::repeat_byte(9), trace_root: B256::repeat_byte(8), deadline: 100 }
    }

    fn honest() -> Proposal {
        Proposal { proposer: LIAR, output_hash: ours().0, trace_root: ours().1, deadline: 100 }
    }

    fn local(status: WatchStatus, checked: Option<B256>) -> Local {
        Local { status, checked, ours: Some(ours()), me: ME, trusted: false, margin: 2 }
    }

    fn facts(status: RequestStatus, proposal: Option<Proposal>, challenger: Option<Address>) -> Facts {
        Facts { status, proposal, challenger, now: 50 }
    }

    #[test]
    fn request_status_numbers_match_the_contract() {
        assert_eq!(RequestStatus::try_from(1), Ok(RequestStatus::Requested));
        assert_eq!(RequestStatus::try_from(6), Ok(RequestStatus::Cancelled));
        assert_eq!(RequestStatus::try_from(0), Err(0), "None is never a valid request");
        assert_eq!(RequestStatus::try_from(7), Err(7));
    }

    #[test]
    fn a_wrong_proposal_is_checked_once_and_challenged() {
        let (s, checked, a) =
            decide(&facts(RequestStatus::Proposed, Some(lie()), None), &local(WatchStatus::Watching, None));
        assert_eq!(s, WatchStatus::Mismatch);
        assert_eq!(checked, Some(lie().key()));
        assert_eq!(a, vec![Action::Checked { wrong: true }, Action::Challenge { root: Some(ours().1) }]);
        // The send failed: the next pass challenges again, without counting the proposal twice.
        let (_, _, a) = decide(&facts(RequestStatus::Proposed, Some(lie()), None), &local(s, checked));
        assert_eq!(a, vec![Action::Challenge { root: Some(ours().1) }]);
    }

    #[test]
    fn a_right_proposal_is_left_alone_and_a_late_lie_is_marked() {
        let (s, _, a) =
            decide(&facts(RequestStatus::Proposed, Some(honest()), None), &local(WatchStatus::Watching, None));
        assert_eq!((s, a), (WatchStatus::Watching, vec![Action::Checked { wrong: false }]));
        let late = Facts { now: 99, ..facts(RequestStatus::Proposed, Some(lie()), None) };
        let (s, _, a) = decide(&late, &local(WatchStatus::Watching, None));
        assert_eq!((s, a), (WatchStatus::Late, vec![Action::Checked { wrong: true }]));
    }

    /// The sock-puppet attack: someone else (the liar's puppet) challenges first. The request
    /// stays watched; when the puppet walks away, the same lie is back in `Proposed` and we
    /// challenge it; when the puppet wins and the same lie is proposed again, we challenge that.
    #[test]
    fn a_lie_is_challenged_whoever_challenged_before() {
        let (s, checked, a) =
            decide(&facts(RequestStatus::Challenged, Some(lie()), Some(PUPPET)), &local(WatchStatus::Watching, None));
        assert_eq!((s, a), (WatchStatus::Watching, vec![Action::Checked { wrong: true }]), "followed, not done");
        // Dismissed: the same proposal stands again.
        let (s, checked, a) = decide(&facts(RequestStatus::Proposed, Some(lie()), None), &local(s, checked));
        assert_eq!((s, a), (WatchStatus::Mismatch, vec![Action::Challenge { root: Some(ours().1) }]));
        // Or the puppet won: reopened (we prove the right output), then the same lie again.
        let (s, checked, a) = decide(&facts(RequestStatus::Requested, None, None), &local(s, checked));
        assert_eq!((s, checked, a), (WatchStatus::Reopened, None, vec![Action::ProveOutput]));
        let (s, _, a) = decide(&facts(RequestStatus::Proposed, Some(lie()), None), &local(s, checked));
        assert_eq!(
            (s, a),
            (WatchStatus::Mismatch, vec![Action::Checked { wrong: true }, Action::Challenge { root: Some(ours().1) }])
        );
    }

    #[test]
    fn our_dispute_is_played_and_its_end_counted() {
        let mine = facts(RequestStatus::Challenged, Some(lie()), Some(ME));
        // A challenge mined but not recorded before a crash: counted, then played.
        let (s, _, a) = decide(&mine, &local(WatchStatus::Mismatch, Some(lie().key())));
        assert_eq!((s, a), (WatchStatus::Challenged, vec![Action::CountChallenge, Action::Play]));
        let (s, _, a) = decide(&mine, &local(s, Some(lie().key())));
        assert_eq!((s, a), (WatchStatus::Challenged, vec![Action::Play]));
        // Won: reopened, and proven.
        let (s2, _, a) = decide(&facts(RequestStatus::Requested, None, None), &local(s, Some(lie().key())));
        assert_eq!((s2, a), (WatchStatus::Reopened, vec![Action::CountOutcome, Action::ProveOutput]));
        // Won and the same lie proposed again at once: counted, checked as a new proposal,
        // challenged again.
        let (s3, _, a) = decide(&facts(RequestStatus::Proposed, Some(lie()), None), &local(s, Some(lie().key())));
        assert_eq!(
            (s3, a),
            (
                WatchStatus::Mismatch,
                vec![Action::CountOutcome, Action::Checked { wrong: true }, Action::Challenge { root: Some(ours().1) }]
            )
        );
        // Lost (the proposer proved): counted; followed until final, never challenged again.
        let (s4, _, a) = decide(&facts(RequestStatus::Confirmed, Some(lie()), None), &local(s, Some(lie().key())));
        assert_eq!((s4, a), (WatchStatus::Watching, vec![Action::CountOutcome, Action::Checked { wrong: true }]));
        let (s5, _, a) = decide(&facts(RequestStatus::Finalized, None, None), &local(s4, Some(lie().key())));
        assert_eq!((s5, a), (WatchStatus::Done, vec![]));
    }

    #[test]
    fn blind_records_challenge_untrusted_proposers_and_never_prove() {
        let blind = Local { ours: None, ..local(WatchStatus::Watching, None) };
        let (s, _, a) = decide(&facts(RequestStatus::Proposed, Some(honest()), None), &blind);
        assert_eq!(
            (s, a),
            (WatchStatus::Mismatch, vec![Action::Checked { wrong: true }, Action::Challenge { root: None }])
        );
        let trusting = Local { trusted: true, ..blind };
        let (s, _, a) = decide(&facts(RequestStatus::Proposed, Some(honest()), None), &trusting);
        assert_eq!((s, a), (WatchStatus::Watching, vec![Action::Checked { wrong: false }]));
        let (s, _, a) =
            decide(&facts(RequestStatus::Requested, None, None), &Local { status: WatchStatus::Challenged, ..blind });
        assert_eq!((s, a), (WatchStatus::Reopened, vec![Action::CountOutcome]));
    }

    #[test]
    fn a_request_not_yet_proposed_is_waited_for_and_our_own_proposal_never_challenged() {
        let (s, _, a) = decide(&facts(RequestStatus::Requested, None, None), &local(WatchStatus::Watching, None));
        assert_eq!((s, a), (WatchStatus::Watching, vec![]));
        let own = Proposal { proposer: ME, ..lie() };
        let (s, _, a) = decide(&facts(RequestStatus::Proposed, Some(own), None), &local(WatchStatus::Watching, None));
        assert_eq!((s, a), (WatchStatus::Watching, vec![Action::Checked { wrong: false }]));
    }

    #[test]
    fn final_and_cancelled_requests_are_done_and_a_crashed_challenge_is_counted_once() {
        for status in [RequestStatus::Finalized, RequestStatus::Cancelled] {
            for from in [WatchStatus::Watching, WatchStatus::Mismatch, WatchStatus::Reopened, WatchStatus::Late] {
                let (s, _, a) = decide(&facts(status, None, None), &local(from, None));
                assert_eq!((s, a), (WatchStatus::Done, vec![]), "{status:?} from {from:?}");
            }
        }
        // Our challenge was mined, but the crash came before we recorded it (still "mismatch").
        let (s, _, a) = decide(
            &facts(RequestStatus::Challenged, Some(lie()), Some(ME)),
            &local(WatchStatus::Mismatch, Some(lie().key())),
        );
        assert_eq!((s, a), (WatchStatus::Challenged, vec![Action::CountChallenge, Action::Play]));
        // Someone else's live dispute of a lie: followed, not challenged again.
        let (s, _, a) = decide(
            &facts(RequestStatus::Challenged, Some(lie()), Some(PUPPET)),
            &local(WatchStatus::Watching, Some(lie().key())),
        );
        assert_eq!((s, a), (WatchStatus::Watching, vec![]));
    }
}
