//! Field-by-field conversion between these types and the ones a bindings generator makes from
//! the same WIT (wit-bindgen in a guest, wasmtime's `bindgen!` in the host).
//!
//! Both sides are generated from one file, so the shapes match; the macros below only spell
//! out the field lists once. A field added to the WIT and not here fails to compile.

/// Like `From`, but implementable in both directions between two foreign types and through
/// `Vec`, `Option` and tuples.
pub trait Conv<T> {
    fn conv(self) -> T;
}

macro_rules! identity {
    ($($t:ty),*) => {$(
        impl Conv<$t> for $t {
            #[inline]
            fn conv(self) -> $t { self }
        }
    )*};
}
identity!(bool, u8, u16, u32, u64, f64, String);

impl<A: Conv<B>, B> Conv<Vec<B>> for Vec<A> {
    #[inline]
    fn conv(self) -> Vec<B> {
        self.into_iter().map(Conv::conv).collect()
    }
}

impl<A: Conv<B>, B> Conv<Option<B>> for Option<A> {
    #[inline]
    fn conv(self) -> Option<B> {
        self.map(Conv::conv)
    }
}

impl<A: Conv<A2>, B: Conv<B2>, A2, B2> Conv<(A2, B2)> for (A, B) {
    #[inline]
    fn conv(self) -> (A2, B2) {
        (self.0.conv(), self.1.conv())
    }
}

/// `__conv_records!(other_module => ours; Name { field, ... } move { field, ... }, ...)`: `Conv`
/// both ways between `other_module::Name` and `ours::Name` (`ours` is this crate or [`crate::v0_1`],
/// named by a local `use`). Fields after `move` are columns of primitives, the same type on both
/// sides: they are moved as they are, with no pass over their elements.
#[doc(hidden)]
#[macro_export]
macro_rules! __conv_records {
    ($other:ident => $ours:ident;
     $($name:ident { $($field:ident),* $(,)? } $(move { $($moved:ident),* $(,)? })?),* $(,)?) => {$(
        impl $crate::conv::Conv<$ours::$name> for $other::$name {
            fn conv(self) -> $ours::$name {
                $ours::$name {
                    $($field: $crate::conv::Conv::conv(self.$field),)*
                    $($($moved: self.$moved,)*)?
                }
            }
        }
        impl $crate::conv::Conv<$other::$name> for $ours::$name {
            fn conv(self) -> $other::$name {
                $other::$name {
                    $($field: $crate::conv::Conv::conv(self.$field),)*
                    $($($moved: self.$moved,)*)?
                }
            }
        }
    )*};
}

/// `__conv_enums!(other_module => ours; Name { Variant, ... }, ...)`: `Conv` both ways for enums.
#[doc(hidden)]
#[macro_export]
macro_rules! __conv_enums {
    ($other:ident => $ours:ident; $($name:ident { $($variant:ident),* $(,)? }),* $(,)?) => {$(
        impl $crate::conv::Conv<$ours::$name> for $other::$name {
            #[inline]
            fn conv(self) -> $ours::$name {
                match self { $($other::$name::$variant => $ours::$name::$variant),* }
            }
        }
        impl $crate::conv::Conv<$other::$name> for $ours::$name {
            #[inline]
            fn conv(self) -> $other::$name {
                match self { $($ours::$name::$variant => $other::$name::$variant),* }
            }
        }
    )*};
}

/// Every record and enum of the contract, for both conversion macros: one list per world and
/// version, used by the guest glue and by the host bindings. The caller names this crate (or
/// its [`crate::v0_1`] module, for `scorer_v0_1`) with a local `use … as ours`.
#[doc(hidden)]
#[macro_export]
macro_rules! __conv_all {
    (scorer: $other:ident => $ours:ident) => {
        $crate::__conv_records!($other => $ours;
            Param { name, value },
            Task { name } move { weight },
            TaskCapacity {} move { task, capacity },
            Miner { hotkey, capacities } move { uid, stake, registered_at_block },
            Requests { kind, outcome } move {
                id, uid, task, greedy, prompt_tokens, completion_tokens, ttft_ms, total_ms,
                reported_ttft_ms, reported_tps, started_ms,
            },
            TokenChecks {} move { request, token_start, rank, logprob, top_logprob },
            RequestValues {} move { request_id, values },
            Challenges { verdict, reasons } move {
                request_id, uid, reason, response_ms, point_start, layer, position, rel_l2, cosine,
            },
            CommitReveal { reveal } move { round, uid, task, committed_ms, revealed_ms, output },
            EpochInput {
                tasks, miners, requests, token_checks, request_values, challenges, commit_reveals,
                params,
            } move { netuid, epoch, block_start, block_end, state },
            MinerScore { components } move { uid, score },
            Weight {} move { uid, weight },
            EpochOutput { scores, weights } move { state },
        );
        $crate::__conv_enums!($other => $ours;
            RequestKind { Organic, Synthetic, Baseline },
            Outcome { Ok, RateLimited, ServerError, Timeout, BadResponse, Cancelled },
            Verdict { Pass, Fail, Void },
            Reveal { Valid, Missing, Mismatch, Late },
        );
    };
    (scorer_v0_1: $other:ident => $ours:ident) => {
        $crate::__conv_records!($other => $ours;
            Param { name, value },
            TaskCapacity {} move { task, capacity },
            Miner { hotkey, capacities } move { uid, stake, registered_at_block },
            RequestRecord { kind, outcome } move {
                id, uid, task, greedy, prompt_tokens, completion_tokens, ttft_ms, total_ms,
                reported_ttft_ms, reported_tps, quality, started_ms,
            },
            RequestValues {} move { request_id, values },
            PointMeasurement {} move { layer, position, rel_l2, cosine },
            ChallengeRecord { points, verdict } move { request_id, uid, reason },
            EpochInput {
                miners, requests, request_values, challenges, params,
            } move { netuid, epoch, block_start, block_end, tasks, state },
            MinerScore { components } move { uid, score },
            Weight {} move { uid, weight },
            EpochOutput { scores, weights } move { state },
        );
        $crate::__conv_enums!($other => $ours;
            RequestKind { Organic, Synthetic, Baseline },
            Outcome { Ok, RateLimited, ServerError, Timeout, BadResponse, Cancelled },
            Verdict { Pass, Fail, Void },
        );
    };
    (challenger: $other:ident => $ours:ident) => {
        $crate::__conv_records!($other => $ours;
            Param { name, value },
            PointMeasurement {} move { layer, position, rel_l2, cosine },
            TokenMeasurement {} move { rank, logprob, top_logprob },
            Measurements { opening, points, tokens } move {
                request_id, uid, greedy, layers, prompt_match, eos_skipped,
            },
            Judgement { verdict } move { reason },
            Candidate {} move { request_id, uid, prompt_tokens, completion_tokens },
            MinerHistory {} move { uid, new, challenged, recent_failures, completed },
            PlanInput { candidates, history, params } move { seed, layers, progress },
            PlannedChallenge {} move { request_id, points },
        );
        $crate::__conv_enums!($other => $ours;
            Opening { Verified, Missed, Invalid },
            Verdict { Pass, Fail, Void },
        );
    };
}
