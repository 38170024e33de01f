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

/// `records!(other_module; Name { field, ... }, ...)`: `Conv` both ways between
/// `other_module::Name` and this crate's `Name`.
#[doc(hidden)]
#[macro_export]
macro_rules! __conv_records {
    ($other:ident; $($name:ident { $($field:ident),* $(,)? }),* $(,)?) => {$(
        impl $crate::conv::Conv<$crate::$name> for $other::$name {
            fn conv(self) -> $crate::$name {
                $crate::$name { $($field: $crate::conv::Conv::conv(self.$field)),* }
            }
        }
        impl $crate::conv::Conv<$other::$name> for $crate::$name {
            fn conv(self) -> $other::$name {
                $other::$name { $($field: $crate::conv::Conv::conv(self.$field)),* }
            }
        }
    )*};
}

/// `enums!(other_module; Name { Variant, ... }, ...)`: `Conv` both ways for enums.
#[doc(hidden)]
#[macro_export]
macro_rules! __conv_enums {
    ($other:ident; $($name:ident { $($variant:ident),* $(,)? }),* $(,)?) => {$(
        impl $crate::conv::Conv<$crate::$name> for $other::$name {
            fn conv(self) -> $crate::$name {
                match self { $($other::$name::$variant => $crate::$name::$variant),* }
            }
        }
        impl $crate::conv::Conv<$other::$name> for $crate::$name {
            fn conv(self) -> $other::$name {
                match self { $($crate::$name::$variant => $other::$name::$variant),* }
            }
        }
    )*};
}

/// Every record and enum of the contract, for both conversion macros: one list, used by the
/// guest glue and by the host bindings.
#[doc(hidden)]
#[macro_export]
macro_rules! __conv_all {
    (scorer: $other:ident) => {
        $crate::__conv_records!($other;
            Param { name, value },
            TaskCapacity { task, capacity },
            Miner { uid, hotkey, stake, capacities, registered_at_block },
            RequestRecord {
                id, uid, task, kind, outcome, greedy, prompt_tokens, completion_tokens, ttft_ms,
                total_ms, reported_ttft_ms, reported_tps, quality, started_ms,
            },
            RequestValues { request_id, values },
            PointMeasurement { layer, position, rel_l2, cosine },
            ChallengeRecord { request_id, uid, points, verdict, reason },
            EpochInput {
                netuid, epoch, block_start, block_end, tasks, miners, requests, request_values,
                challenges, params, state,
            },
            MinerScore { uid, score, components },
            Weight { uid, weight },
            EpochOutput { scores, weights, state },
        );
        $crate::__conv_enums!($other;
            RequestKind { Organic, Synthetic, Baseline },
            Outcome { Ok, RateLimited, ServerError, Timeout, BadResponse, Cancelled },
            Verdict { Pass, Fail, Void },
        );
    };
    (challenger: $other:ident) => {
        $crate::__conv_records!($other;
            Param { name, value },
            PointMeasurement { layer, position, rel_l2, cosine },
            TokenMeasurement { rank, logprob, top_logprob },
            Measurements {
                request_id, uid, greedy, opening, layers, points, tokens, prompt_match,
                eos_skipped,
            },
            Judgement { verdict, reason },
            Candidate { request_id, uid, prompt_tokens, completion_tokens },
            MinerHistory { uid, new, challenged, recent_failures, completed },
            PlanInput { seed, layers, progress, candidates, history, params },
            PlannedChallenge { request_id, points },
        );
        $crate::__conv_enums!($other;
            Opening { Verified, Missed, Invalid },
            Verdict { Pass, Fail, Void },
        );
    };
}
