//! `managementPolicy: Observe`: a resource that only reads Mendix. Its reconcile stops where the
//! first write would be and reports instead: Ready (observing is what it converges to), with
//! condition `Drifted` listing each difference between Mendix and the spec, and an Event when
//! that list changes. Turning Observe into Manage hands the remote object over.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::events::EventType;

use super::Context;
use super::verdict::{Verdict, now};
use crate::crd::conditions::{FALSE, Outcome, TRUE, find, set_condition};
use crate::crd::{CONDITION_DRIFTED, Observed};

/// What an observing reconcile reports; `drift` is empty when Mendix matches the spec.
pub async fn report<K: Observed>(
    obj: &K,
    ctx: &Context,
    conditions: &mut Vec<Condition>,
    drift: &[String],
    what: &str,
) -> Verdict {
    let generation = obj.meta().generation;
    if drift.is_empty() {
        set_condition(
            conditions,
            CONDITION_DRIFTED,
            FALSE,
            "InSync",
            &format!("{what} matches the spec"),
            generation,
            now(),
        );
        return Verdict::new(
            Outcome::ready(
                "Observed",
                format!("observing only (managementPolicy: Observe): {what} matches the spec"),
            ),
            std::time::Duration::ZERO,
        );
    }
    let list = drift.join("; ");
    let before = find(conditions, CONDITION_DRIFTED)
        .filter(|c| c.status == TRUE)
        .map(|c| c.message.clone());
    set_condition(
        conditions,
        CONDITION_DRIFTED,
        TRUE,
        "Drifted",
        &list,
        generation,
        now(),
    );
    if before.as_deref() != Some(list.as_str()) {
        ctx.event(obj, EventType::Normal, "Drifted", "Observe", list.clone())
            .await;
    }
    Verdict::new(
        Outcome::ready(
            "Observed",
            format!(
                "observing only (managementPolicy: Observe): {what} differs from the spec: {list}"
            ),
        ),
        std::time::Duration::ZERO,
    )
}

/// A managed resource carries no Drifted condition (one left from Observe is dropped).
pub fn forget_drift(conditions: &mut Vec<Condition>) {
    conditions.retain(|c| c.type_ != CONDITION_DRIFTED);
}
