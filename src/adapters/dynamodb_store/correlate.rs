//! Correlation state in DynamoDB: one item per (correlation, group), and the
//! alerts counted in the same transaction that moves the state, so that no
//! alert is decided without being counted, and none twice.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | state | `CORR#<group id>` | `STATE` | `state` (JSON), `version`, `expires_at` |
//!
//! An event fed costs two requests: one `BatchGetItem` reads the state and
//! the group's alert counter (consistently), one `TransactWriteItems` puts
//! the state (only if its `version` is unchanged) and, for each alert, its
//! event item (only if absent) and the counter. A feed that changes nothing
//! (a redelivery) costs the read alone, plus one `GetItem` per alert it
//! decided before, to hand back any notification still owed.

use std::collections::HashSet;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::{
    DynamoStore, Item, MAX_ATTEMPTS, backoff, call_failed, invalid, number_attr, partition_key,
    string_attr,
};
use crate::domain::correlation::Alert;
use crate::domain::correlation::state::{self, GroupState};
use crate::domain::counter::{Counters, GroupKey, NotifyPolicy, advance};
use crate::domain::store::{
    AlertRecorded, Correlated, Feed, PendingNotification, Recorded, StoreError,
};
use crate::domain::time::Timestamp;

/// The most items DynamoDB takes in one transaction.
pub(super) const MAX_TRANSACT_ITEMS: usize = 100;
/// Alerts that fit beside the state and the counter in one transaction.
const MAX_ALERTS_WITH_STATE: usize = MAX_TRANSACT_ITEMS - 2;

fn corrupt(key: &str, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl DynamoStore {
    fn state_pk(feed: &Feed<'_>) -> String {
        Self::state_pk_of(&feed.key)
    }

    pub(super) fn state_pk_of(key: &GroupKey) -> String {
        partition_key(format!("CORR#{}", key.id()))
    }

    /// A correlation group's state, as the store keeps it (for inspection
    /// and for the contract tests).
    pub async fn correlation_state(
        &self,
        key: &GroupKey,
    ) -> Result<Option<GroupState>, StoreError> {
        let pk = Self::state_pk_of(key);
        let item = self.get(&pk, "STATE", "GetItem correlation state").await?;
        match item {
            None => Ok(None),
            Some(item) => Self::state_of(Some(&item), &pk).map(|(s, _)| Some(s)),
        }
    }

    pub(super) fn key(pk: &str, sk: &str) -> Item {
        [
            ("pk".to_owned(), string_attr(pk)),
            ("sk".to_owned(), string_attr(sk)),
        ]
        .into()
    }

    /// The group's state and version, and its alert counter and version, in
    /// one consistent read.
    async fn read_both(
        &self,
        state_pk: &str,
        group_pk: &str,
    ) -> Result<(Option<Item>, Option<Item>), StoreError> {
        let keys = [(state_pk.to_owned(), group_pk.to_owned())];
        let Some(items) = self.read_all(&keys).await? else {
            return Err(StoreError::Unavailable {
                operation: "BatchGetItem correlation",
                source: "DynamoDB left keys unprocessed (throttled); the event is retried".into(),
            });
        };
        let find = |pk: &str| {
            items
                .iter()
                .find(|i| matches!(i.get("pk"), Some(AttributeValue::S(p)) if p == pk))
                .cloned()
        };
        Ok((find(state_pk), find(group_pk)))
    }

    pub(super) fn state_of(
        item: Option<&Item>,
        pk: &str,
    ) -> Result<(GroupState, Option<i64>), StoreError> {
        let Some(item) = item else {
            return Ok((GroupState::default(), None));
        };
        let json = match item.get("state") {
            Some(AttributeValue::S(json)) => json,
            other => return Err(corrupt(pk, format!("state is {other:?}"))),
        };
        let state = serde_json::from_str(json).map_err(|e| corrupt(pk, format!("state: {e}")))?;
        Ok((state, Some(super::need_n(item, "version", pk)?)))
    }

    pub(super) fn state_put(
        &self,
        pk: &str,
        state: &GroupState,
        prev: Option<i64>,
        keep_ms: i64,
    ) -> Result<Put, StoreError> {
        let json = serde_json::to_string(state).map_err(|e| corrupt(pk, e.to_string()))?;
        // A baseline remembers for its forget-after period, which may be
        // longer than the table's retention.
        let expires_at = match self.expires_at() {
            AttributeValue::N(n) => {
                let by_retention: i64 = n.parse().unwrap_or_default();
                let by_rule = Timestamp::now().as_millis().saturating_add(keep_ms) / 1000;
                number_attr(by_retention.max(by_rule))
            }
            other => other,
        };
        let item: Item = [
            ("pk", string_attr(pk)),
            ("sk", string_attr("STATE")),
            ("state", string_attr(json)),
            ("version", number_attr(prev.map_or(1, |v| v + 1))),
            ("expires_at", expires_at),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match prev {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", number_attr(v)),
        };
        put.build().map_err(invalid("build Put correlation state"))
    }

    /// An alert decided before, with the notification it still owes.
    async fn decided_before(
        &self,
        feed: &Feed<'_>,
        identity: &str,
    ) -> Result<Option<AlertRecorded>, StoreError> {
        let pk = Self::event_pk_of(&feed.key.rule_id, &feed.key.alert_event_id(identity));
        let Some(item) = self.get(&pk, "EVENT", "GetItem alert").await? else {
            return Ok(None);
        };
        let alert: Alert = match item.get("alert") {
            Some(AttributeValue::S(json)) => {
                serde_json::from_str(json).map_err(|e| corrupt(&pk, format!("alert: {e}")))?
            }
            other => return Err(corrupt(&pk, format!("alert is {other:?}"))),
        };
        let pending = Self::pending_of(&item, &pk)?;
        Ok(Some(AlertRecorded {
            sighting: feed.sighting(&alert),
            alert,
            recorded: Recorded::Duplicate { pending },
        }))
    }

    pub(super) async fn correlate_feed(
        &self,
        feed: &Feed<'_>,
        policy: &NotifyPolicy,
    ) -> Result<Correlated, StoreError> {
        let state_pk = Self::state_pk(feed);
        let group_pk = partition_key(format!("GROUP#{}", feed.key.id()));
        // Alerts whose event item a cancelled transaction found: counted
        // before (a lost state, or an earlier part of this feed). They are
        // handed back, never retried as if another writer had moved first.
        let mut recorded_before: HashSet<String> = HashSet::new();
        let mut attempt = 0;
        while attempt < MAX_ATTEMPTS {
            let (state_item, counter_item) = self.read_both(&state_pk, &group_pk).await?;
            let (before, version) = Self::state_of(state_item.as_ref(), &state_pk)?;
            let counter = counter_item
                .as_ref()
                .map(|i| Self::counters_of(i, &group_pk))
                .transpose()?;
            let tr = state::feed(feed.correlation, &before, &feed.event);
            let mut out = Vec::new();
            for identity in &tr.redelivered {
                out.extend(self.decided_before(feed, identity).await?);
            }
            if !tr.changed {
                return Ok(Correlated {
                    alerts: out,
                    too_late: tr.too_late,
                });
            }
            let (known, fresh): (Vec<&Alert>, Vec<&Alert>) = tr
                .alerts
                .iter()
                .partition(|a| recorded_before.contains(&a.identity));
            for a in known {
                out.extend(self.decided_before(feed, &a.identity).await?);
            }
            let mut counters: Option<Counters> = counter.map(|(c, _)| c);
            let mut counter_version = counter.map(|(_, v)| v);
            let mut decided = Vec::new();
            // One transaction holds 100 items: the state, the counter and up
            // to 98 alerts. Alerts past those are counted first, 99 at a
            // time with the counter; the last transaction moves the state.
            // Were it to fail, the retry finds the earlier ones counted.
            let split = fresh.len().saturating_sub(MAX_ALERTS_WITH_STATE);
            let mut cancelled = None;
            for chunk in fresh[..split].chunks(MAX_TRANSACT_ITEMS - 1) {
                let mut items = Vec::new();
                let first = decided.len();
                for alert in chunk {
                    let (put, recorded) = self.alert_put(feed, alert, &mut counters, policy)?;
                    items.push(put);
                    decided.push(recorded);
                }
                let last = &decided[decided.len() - 1].sighting;
                if let Some(c) = counters.as_ref() {
                    items.push(self.counter_put(last, c, counter_version)?);
                }
                match self.transact(items).await {
                    Ok(()) => counter_version = Some(counter_version.map_or(1, |v| v + 1)),
                    Err(e) => {
                        cancelled = Some((e, first, chunk.len(), 0));
                        break;
                    }
                }
            }
            if cancelled.is_none() {
                let mut items = vec![self.state_put(
                    &state_pk,
                    &tr.state,
                    version,
                    state::keep_ms(feed.correlation),
                )?];
                let first = decided.len();
                for alert in &fresh[split..] {
                    let (put, recorded) = self.alert_put(feed, alert, &mut counters, policy)?;
                    items.push(put);
                    decided.push(recorded);
                }
                if decided.len() > first
                    && let (Some(last), Some(c)) = (decided.last(), counters.as_ref())
                {
                    items.push(self.counter_put(&last.sighting, c, counter_version)?);
                }
                match self.transact(items).await {
                    Ok(()) => {
                        out.extend(decided);
                        return Ok(Correlated {
                            alerts: out,
                            too_late: tr.too_late,
                        });
                    }
                    Err(e) => cancelled = Some((e, first, fresh.len() - split, 1)),
                }
            }
            let Some((err, first, alerts, offset)) = cancelled else {
                // Unreachable: the final transaction returned or set it.
                attempt += 1;
                continue;
            };
            let Some(codes) = super::cancellation_codes(&err) else {
                return Err(call_failed("TransactWriteItems correlation")(err));
            };
            // An item or the transaction past DynamoDB's size limits is
            // refused again on every attempt: permanent, not contention.
            if let Some(e) = super::refused(&codes, "TransactWriteItems correlation") {
                return Err(e);
            }
            // An alert's item already there: counted before. Hand it back
            // on the next attempt, at once (no writer to wait for).
            let mut found = false;
            for i in 0..alerts {
                if codes
                    .get(offset + i)
                    .is_some_and(|c| c == "ConditionalCheckFailed")
                {
                    recorded_before.insert(decided[first + i].alert.identity.clone());
                    found = true;
                }
            }
            if !found {
                // Another writer moved the state or the counter first: read again.
                backoff(attempt).await;
            }
            attempt += 1;
        }
        Err(StoreError::Contention {
            group: state_pk,
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The event item of `alert` and what it records, the group's counters
    /// advanced by it.
    pub(super) fn alert_put(
        &self,
        feed: &Feed<'_>,
        alert: &Alert,
        counters: &mut Option<Counters>,
        policy: &NotifyPolicy,
    ) -> Result<(Put, AlertRecorded), StoreError> {
        let sighting = feed.sighting(alert);
        let (next, notify) = advance(counters.as_ref(), &sighting, policy);
        let pending = notify.map(|reason| PendingNotification {
            counters: next,
            reason,
        });
        let put = self.event_put(&sighting, pending.as_ref(), Some(alert))?;
        *counters = Some(next);
        Ok((
            put,
            AlertRecorded {
                alert: alert.clone(),
                sighting,
                recorded: Recorded::Counted {
                    counters: next,
                    notify,
                },
            },
        ))
    }

    /// One transaction of `items`.
    pub(super) async fn transact(
        &self,
        items: Vec<Put>,
    ) -> Result<(), SdkError<TransactWriteItemsError>> {
        let mut request = self.client.transact_write_items();
        for put in items {
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        request.send().await.map(drop)
    }
}
