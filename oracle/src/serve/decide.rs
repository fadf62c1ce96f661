//! The operator's decisions as a pure function of what the chain says about one of its
//! requests and what the service remembers of it: `(on-chain facts, local status) -> (new local
//! status, actions)`, tested without a chain. The agent (`super::chain::Operator::advance`)
//! gathers the facts, calls [`decide`], and carries the actions out.

use alloy::primitives::Address;
use verdict_runtime::RequestStatus as OnChain;

use crate::store::RequestStatus;

/// What the chain says about one request, read in one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The request's on-chain status.
    pub status: OnChain,
    /// The live proposal's proposer and the end of its window (`Proposed`, `Confirmed`).
    pub proposal: Option<(Address, u64)>,
    /// The latest block's time.
    pub now: u64,
    /// A private input not delivered yet: the request's timeout (unix seconds), after which it
    /// can no longer be answered usefully (its requester may cancel it). `None`: a public input,
    /// or a delivered one.
    pub awaiting_input: Option<u64>,
}

/// What the agent does about a request, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Compute (when not stored yet) and propose with a bond.
    Propose,
    /// Settle the request (the window is over, or our proposal won its dispute).
    Settle,
    /// Play our next move in the dispute (or prove, or time out the challenger).
    Defend,
    /// Count a new challenge of our proposal.
    CountChallenged,
    /// Count a dispute our proposal won.
    CountWon,
    /// Count a dispute our proposal lost (we do not propose the same answer again).
    CountLost,
}

/// The decision: the local status to record (`None`: unchanged), with the proposal's deadline
/// when it is recorded, and the actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The status to record.
    pub status: Option<RequestStatus>,
    /// The deadline to record with it.
    pub deadline: Option<u64>,
    /// A reason to record with it.
    pub error: Option<&'static str>,
    /// What to do.
    pub actions: Vec<Action>,
}

impl Decision {
    fn act(actions: &[Action]) -> Self {
        Self { status: None, deadline: None, error: None, actions: actions.to_vec() }
    }

    fn record(status: RequestStatus) -> Self {
        Self { status: Some(status), deadline: None, error: None, actions: Vec::new() }
    }
}

/// The operator's table: one row a case, the chain first.
///
/// | on-chain | proposal | local | → record | actions |
/// |---|---|---|---|---|
/// | Requested | — | Challenged | Failed ("lost its dispute") | CountLost |
/// | Requested | — | input awaited, before the timeout | AwaitingInput (once) | — |
/// | Requested | — | input awaited, timeout passed | Expired ("never delivered") | — |
/// | Requested | — | any other | — | Propose |
/// | Proposed / Confirmed | another's | any | Taken | — |
/// | Confirmed | ours | Challenged | — | CountWon, Settle |
/// | Confirmed | ours | other | — | Settle |
/// | Proposed | ours, window over | any | — | Settle |
/// | Proposed | ours, window open | not Proposed | Proposed (deadline) | — |
/// | Proposed | ours, window open | Proposed | — | — |
/// | Challenged | — | not Challenged | Challenged | CountChallenged, Defend |
/// | Challenged | — | Challenged | — | Defend |
/// | Finalized | — | any | Finalized | — |
/// | Cancelled | — | any | Cancelled | — |
pub fn decide(facts: &Facts, local: RequestStatus, me: Address) -> Decision {
    match facts.status {
        OnChain::Requested if local == RequestStatus::Challenged => Decision {
            error: Some("our proposal lost its dispute"),
            actions: vec![Action::CountLost],
            ..Decision::record(RequestStatus::Failed)
        },
        OnChain::Requested => match facts.awaiting_input {
            Some(timeout) if facts.now >= timeout => Decision {
                error: Some("the private input was not delivered before the request's timeout"),
                ..Decision::record(RequestStatus::Expired)
            },
            Some(_) if local == RequestStatus::AwaitingInput => Decision::act(&[]),
            Some(_) => Decision::record(RequestStatus::AwaitingInput),
            None => Decision::act(&[Action::Propose]),
        },
        OnChain::Proposed | OnChain::Confirmed => {
            let Some((proposer, deadline)) = facts.proposal else {
                // A proposal status without a proposal is not a state the contract has.
                return Decision::act(&[]);
            };
            if proposer != me {
                return Decision::record(RequestStatus::Taken);
            }
            if facts.status == OnChain::Confirmed {
                let won = local == RequestStatus::Challenged;
                return Decision::act(if won { &[Action::CountWon, Action::Settle] } else { &[Action::Settle] });
            }
            if facts.now >= deadline {
                Decision::act(&[Action::Settle])
            } else if local != RequestStatus::Proposed {
                Decision { deadline: Some(deadline), ..Decision::record(RequestStatus::Proposed) }
            } else {
                Decision::act(&[])
            }
        }
        OnChain::Challenged if local != RequestStatus::Challenged => Decision {
            actions: vec![Action::CountChallenged, Action::Defend],
            ..Decision::record(RequestStatus::Challenged)
        },
        OnChain::Challenged => Decision::act(&[Action::Defend]),
        OnChain::Finalized => Decision::record(RequestStatus::Finalized),
        OnChain::Cancelled => Decision::record(RequestStatus::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;

    use super::{decide, Action, Decision, Facts, OnChain};
    use crate::store::RequestStatus as L;

    const ME: Address = Address::repeat_byte(1);
    const OTHER: Address = Address::repeat_byte(2);

    fn facts(status: OnChain, proposal: Option<(Address, u64)>, now: u64) -> Facts {
        Facts { status, proposal, now, awaiting_input: None }
    }

    fn acts(d: &Decision) -> &[Action] {
        &d.actions
    }

    #[test]
    fn a_requested_request_is_proposed_unless_our_proposal_lost_its_dispute() {
        for local in [L::Received, L::Computed, L::Proposing, L::Proposed, L::Settling] {
            let d = decide(&facts(OnChain::Requested, None, 0), local, ME);
            assert_eq!((d.status, acts(&d)), (None, &[Action::Propose][..]), "{local:?}");
        }
        let d = decide(&facts(OnChain::Requested, None, 0), L::Challenged, ME);
        assert_eq!(d.status, Some(L::Failed));
        assert_eq!(acts(&d), [Action::CountLost]);
        assert!(d.error.is_some());
    }

    #[test]
    fn a_private_input_is_awaited_until_the_requests_timeout_then_expires() {
        let awaiting = |now| Facts { awaiting_input: Some(100), ..facts(OnChain::Requested, None, now) };
        let d = decide(&awaiting(99), L::Received, ME);
        assert_eq!((d.status, acts(&d)), (Some(L::AwaitingInput), &[][..]), "never proposed without its input");
        let d = decide(&awaiting(99), L::AwaitingInput, ME);
        assert_eq!((d.status, acts(&d)), (None, &[][..]), "nothing to write twice");
        for local in [L::Received, L::AwaitingInput] {
            let d = decide(&awaiting(100), local, ME);
            assert_eq!((d.status, acts(&d)), (Some(L::Expired), &[][..]), "{local:?}");
            assert!(d.error.is_some());
        }
        // Delivered: proposed like any request.
        let d = decide(&facts(OnChain::Requested, None, 99), L::AwaitingInput, ME);
        assert_eq!(acts(&d), [Action::Propose]);
        // Another operator that had the input answered: taken, as for any request.
        let d = decide(
            &Facts { awaiting_input: Some(100), ..facts(OnChain::Proposed, Some((OTHER, 9)), 0) },
            L::AwaitingInput,
            ME,
        );
        assert_eq!(d.status, Some(L::Taken));
    }

    #[test]
    fn another_operators_proposal_takes_the_request() {
        for status in [OnChain::Proposed, OnChain::Confirmed] {
            let d = decide(&facts(status, Some((OTHER, 100)), 0), L::Received, ME);
            assert_eq!((d.status, acts(&d)), (Some(L::Taken), &[][..]));
        }
    }

    #[test]
    fn our_proposal_is_recorded_while_its_window_runs_and_settled_after() {
        let open = facts(OnChain::Proposed, Some((ME, 100)), 99);
        let d = decide(&open, L::Proposing, ME);
        assert_eq!((d.status, d.deadline, acts(&d)), (Some(L::Proposed), Some(100), &[][..]));
        let d = decide(&open, L::Proposed, ME);
        assert_eq!((d.status, acts(&d)), (None, &[][..]), "nothing to write twice");
        // A dismissed challenge puts our proposal back in its window: recorded as proposed again.
        let d = decide(&open, L::Challenged, ME);
        assert_eq!(d.status, Some(L::Proposed));
        for local in [L::Proposed, L::Settling, L::Challenged] {
            let d = decide(&facts(OnChain::Proposed, Some((ME, 100)), 100), local, ME);
            assert_eq!(acts(&d), [Action::Settle], "{local:?}");
        }
    }

    #[test]
    fn a_confirmed_proposal_is_settled_and_a_won_dispute_counted() {
        let d = decide(&facts(OnChain::Confirmed, Some((ME, 100)), 0), L::Challenged, ME);
        assert_eq!(acts(&d), [Action::CountWon, Action::Settle]);
        let d = decide(&facts(OnChain::Confirmed, Some((ME, 100)), 0), L::Settling, ME);
        assert_eq!(acts(&d), [Action::Settle]);
    }

    #[test]
    fn a_challenge_is_counted_once_and_defended_every_pass() {
        let d = decide(&facts(OnChain::Challenged, None, 0), L::Proposed, ME);
        assert_eq!((d.status, acts(&d)), (Some(L::Challenged), &[Action::CountChallenged, Action::Defend][..]));
        let d = decide(&facts(OnChain::Challenged, None, 0), L::Challenged, ME);
        assert_eq!((d.status, acts(&d)), (None, &[Action::Defend][..]));
    }

    #[test]
    fn final_and_cancelled_requests_are_recorded_as_such() {
        for local in [L::Proposed, L::Settling, L::Received] {
            assert_eq!(decide(&facts(OnChain::Finalized, None, 0), local, ME).status, Some(L::Finalized));
            assert_eq!(decide(&facts(OnChain::Cancelled, None, 0), local, ME).status, Some(L::Cancelled));
        }
    }
}
