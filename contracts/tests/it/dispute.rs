//! Two agents driven by the pure solver play whole disputes against the real DisputeGame on
//! anvil: the honest side wins either way round.

use alloy::primitives::{Bytes, FixedBytes, U256};
use verdict_contracts::dispute::{next_action, Action, DisputeView, Phase, Role, Trace};

use crate::common::*;

const STEPS: usize = 5;

/// z_0..z_5 bound (by the test verifier's keccak commitments) to `input` and `output`; from
/// `fork` on, salted (a diverging trace).
async fn trace<P: alloy::providers::Provider + Clone>(
    p: &Protocol<P>,
    input: &Bytes,
    output: &Bytes,
    fork: Option<usize>,
) -> Vec<FixedBytes<32>> {
    let mut zs = vec![p.verifier.inputCommitment(U256::ZERO, input.clone()).call().await.unwrap()];
    for i in 1..STEPS {
        let salted = fork.is_some_and(|f| i >= f);
        zs.push(keccak(format!("step {i} {salted}").as_bytes()));
    }
    zs.push(p.verifier.outputCommitment(U256::ZERO, output.clone()).call().await.unwrap());
    zs
}

/// Plays the dispute of `id` to the end; returns the moves made, in order, as phase names.
async fn play<P: alloy::providers::Provider + Clone>(
    p: &Protocol<P>,
    accounts: &Accounts,
    id: U256,
    input: &Bytes,
    output: &Bytes,
    proposer: &Trace,
    challenger: &Trace,
) -> Vec<String> {
    let mut log = Vec::new();
    for _ in 0..32 {
        let d = p.game.disputeOf(id).call().await.unwrap();
        let view = DisputeView { phase: Phase::from(d.phase), steps: STEPS, lo: d.lo as usize, hi: d.hi as usize };
        let Some(role) = view.phase.to_move() else { return log };
        let (trace, from) = match role {
            Role::Proposer => (proposer, accounts.operator),
            Role::Challenger => (challenger, accounts.watcher),
        };
        assert_eq!(
            next_action(if role == Role::Proposer { Role::Challenger } else { Role::Proposer }, &view, trace),
            Action::Wait
        );
        log.push(view.phase.to_string());
        let call = match next_action(role, &view, trace) {
            Action::Open { z0, z_last } => {
                let o =
                    verdict_contracts::DisputeGame::Opening { z0: z0.0, proof0: z0.1, zL: z_last.0, proofL: z_last.1 };
                if role == Role::Proposer {
                    p.game.openDispute(id, input.clone(), output.clone(), o).from(from).send().await
                } else {
                    p.game.challengerOpen(id, o).from(from).send().await
                }
            }
            Action::Bisect { z, proof, .. } => {
                if role == Role::Proposer {
                    p.game.proposerBisect(id, z, proof).from(from).send().await
                } else {
                    p.game.challengerBisect(id, z, proof).from(from).send().await
                }
            }
            Action::ProveSegment { steps, .. } => {
                // The test verifier accepts "ok" for the segments it was told to; the real
                // prover's proof goes here.
                p.game.proveSegment(id, steps, Bytes::from_static(b"ok")).from(from).send().await
            }
            Action::Wait => unreachable!("it is this side's move"),
        };
        call.unwrap().get_receipt().await.unwrap();
    }
    panic!("the dispute did not end in 32 moves");
}

#[tokio::test]
async fn solver_agents_play_disputes_to_the_honest_outcome_on_anvil() {
    let anvil = anvil();
    let (provider, accounts) = provider(&anvil);
    let p = deploy(&provider, &accounts).await;
    let fee = p.oracle.estimateFee(U256::from(1)).call().await.unwrap();
    let input = Bytes::from_static(&[1, 0xfe, 0x7f, 0]);
    let good = Bytes::from_static(&[0, 0, 0, 7, 0xff, 0xff, 0xff, 0xfd]);
    let bad = Bytes::from_static(&[0, 0, 0, 9, 0, 0, 0, 9]);
    let honest = trace(&p, &input, &good, None).await;
    let liar = trace(&p, &input, &bad, Some(3)).await;
    // The honest trace's steps are provable; the liar's divergent step is not.
    for i in 0..STEPS {
        p.verifier
            .accept(U256::from(i), U256::from(i + 1), honest[i], honest[i + 1])
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    // A request, proposed by the operator with `proposed`, challenged by the watcher with `theirs`.
    let challenged = |id: u64, output: Bytes, proposed: FixedBytes<32>, theirs: FixedBytes<32>| {
        let (p, accounts, input) = (&p, &accounts, input.clone());
        async move {
            let id = U256::from(id);
            let zero = alloy::primitives::Address::ZERO;
            let req = p.oracle.request(U256::from(1), input, FixedBytes::ZERO, zero, 0, Bytes::new());
            req.from(accounts.user).value(fee).send().await.unwrap().get_receipt().await.unwrap();
            let prop = p.oracle.propose(id, output, proposed).from(accounts.operator);
            prop.send().await.unwrap().get_receipt().await.unwrap();
            let ch = p.oracle.challenge(id, theirs).from(accounts.watcher).value(U256::from(CHALLENGER_BOND));
            ch.send().await.unwrap().get_receipt().await.unwrap();
            id
        }
    };

    // 1. A lying proposer against an honest challenger.
    let id = challenged(1, bad.clone(), root(&liar), root(&honest)).await;
    let moves = play(&p, &accounts, id, &input, &bad, &Trace::from_words(&liar), &Trace::from_words(&honest)).await;
    assert_eq!(
        moves,
        [
            "awaiting_proposer_open",
            "awaiting_challenger_open",
            "awaiting_proposer_mid",
            "awaiting_challenger_mid",
            "awaiting_proposer_mid",
            "awaiting_challenger_mid",
            "awaiting_proof"
        ]
    );
    assert_eq!(p.oracle.requestOf(id).call().await.unwrap().status, 1, "reopened: Requested");
    let burned = PROPOSER_BOND / 10_000 * u64::from(BURN_BPS);
    let credit = p.oracle.accountOf(accounts.watcher).call().await.unwrap().credit;
    assert_eq!(credit.to::<u64>(), CHALLENGER_BOND + PROPOSER_BOND - burned);

    // 2. An honest proposer against a lying challenger.
    let id = challenged(2, good.clone(), root(&honest), root(&liar)).await;
    play(&p, &accounts, id, &input, &good, &Trace::from_words(&honest), &Trace::from_words(&liar)).await;
    assert_eq!(p.oracle.requestOf(id).call().await.unwrap().status, 4, "Confirmed");
    p.oracle.settle(id, good.clone()).from(accounts.user).send().await.unwrap().get_receipt().await.unwrap();
    assert!(p.oracle.isFinalized(id).call().await.unwrap());
}

/// The request id a `proveOutput` proof is made for, computed by the prover
/// (`RequestId::bound_to`) and by the game (`proverBoundId`), is the same: the watchtower's
/// proofs verify, and a proof copied by another sender is made for another id (which the
/// verifier rejects: `tests/it/nova.rs` flips a request-id bit).
#[tokio::test]
async fn proofs_of_outputs_are_bound_to_their_sender_the_same_way_on_both_sides() {
    use verdict_circuits::prover::RequestId;
    let anvil = anvil();
    let (provider, accounts) = provider(&anvil);
    let p = deploy(&provider, &accounts).await;
    for (n, who) in [(1u64, accounts.watcher), (77, accounts.user), (u64::MAX, accounts.operator)] {
        let onchain = p.game.proverBoundId(U256::from(n), who).call().await.unwrap();
        let ours = RequestId::bound_to(n, who.into_array());
        assert_eq!(onchain, U256::from_be_bytes(ours.0), "request {n} by {who}");
        assert_ne!(ours, RequestId::bound_to(n, accounts.deployer.into_array()));
        assert_ne!(ours, RequestId::from_u64(n));
    }
}
