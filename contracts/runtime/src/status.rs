//! `InferenceOracle.Status`, the on-chain side of every agent's decisions.

/// A request's on-chain status, as `InferenceOracle` numbers it. `None` (0) is never a valid
/// request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestStatus {
    /// Open: no live proposal.
    Requested,
    /// A proposal's liveness window runs.
    Proposed,
    /// The proposal is disputed.
    Challenged,
    /// The proposal won its dispute by a proof; settlement follows.
    Confirmed,
    /// Final.
    Finalized,
    /// Cancelled by the requester.
    Cancelled,
}

impl TryFrom<u8> for RequestStatus {
    type Error = u8;

    fn try_from(v: u8) -> Result<Self, u8> {
        Ok(match v {
            1 => Self::Requested,
            2 => Self::Proposed,
            3 => Self::Challenged,
            4 => Self::Confirmed,
            5 => Self::Finalized,
            6 => Self::Cancelled,
            other => return Err(other),
        })
    }
}

impl RequestStatus {
    /// Reads a request's status as the contract returns it.
    pub fn read(request: u64, raw: u8) -> crate::Result<Self> {
        Self::try_from(raw)
            .map_err(|s| crate::Error::Unexpected(format!("request {request} has no valid on-chain status ({s})")))
    }
}

#[cfg(test)]
mod tests {
    use super::RequestStatus;

    #[test]
    fn every_contract_status_reads_back_and_none_is_refused() {
        let all = [
            RequestStatus::Requested,
            RequestStatus::Proposed,
            RequestStatus::Challenged,
            RequestStatus::Confirmed,
            RequestStatus::Finalized,
            RequestStatus::Cancelled,
        ];
        for (i, s) in all.into_iter().enumerate() {
            assert_eq!(RequestStatus::try_from(i as u8 + 1), Ok(s));
        }
        assert_eq!(RequestStatus::try_from(0), Err(0));
        assert_eq!(RequestStatus::try_from(7), Err(7));
        assert!(RequestStatus::read(9, 0).unwrap_err().is_retryable());
    }
}
